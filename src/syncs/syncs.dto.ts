import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { MEDIA_TYPE } from '../image-spec/media-types';
import { PLATFORM_SPEC } from '../image-spec/platform-list';
import { SYNC_DESTINATION_TYPES, SYNC_SOURCE_TYPES, type SyncDestinationType, type SyncSourceType } from '../transfers/sync-operation.dto';
import { TransferOptionsDto } from '../transfers/transfer-options.dto';

/** Body of POST /v1/syncs (skopeo sync). */
export class SyncRequestDto extends TransferOptionsDto {
  /**
   * What to sync, as skopeo sync's SOURCE: with sourceType `docker` a repository
   * (`registry.example/team/app`: every tag) or one image (`…/app:1.0`, `…/app@sha256:…`),
   * a `docker://` prefix allowed; with `dir` a directory under the storage root, searched for
   * images (every directory holding a manifest.json). Omitted with `yaml`.
   */
  @ApiPropertyOptional({ example: 'registry.example/team/app' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  source?: string;

  /** skopeo sync --src: `docker`, `dir` or `yaml`. */
  @ApiProperty({ enum: SYNC_SOURCE_TYPES, enumName: 'SyncSourceType', example: 'docker' })
  @IsIn(SYNC_SOURCE_TYPES)
  sourceType: SyncSourceType;

  /**
   * With sourceType `yaml`: the YAML document skopeo's `--src yaml` reads (registries →
   * `images`, `images-by-tag-regex`, `images-by-semver`, `tls-verify`, `credentials`,
   * `cert-dir`). Passwords in `credentials` are kept in memory only: the operation's `request`
   * shows them as `[redacted]`. `cert-dir` must name a directory the server allows
   * (SKIFF_SYNC_CERT_DIRS). At most 512 KiB.
   */
  @ApiPropertyOptional({ example: 'registry.example:\n  images:\n    team/app: []\n  images-by-tag-regex:\n    team/tools: ^v1\\.\n' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(512 * 1024)
  yaml?: string;

  /**
   * Where to: with destinationType `docker` a registry and optional namespace
   * (`mirror.example:5000/mirror`, a `docker://` prefix allowed); with `dir` a directory
   * under the storage root. Each image goes to DESTINATION/NAME (see `scoped`).
   */
  @ApiProperty({ example: 'mirror.example:5000/mirror' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  destination: string;

  /** skopeo sync --dest: `docker` or `dir`. */
  @ApiProperty({ enum: SYNC_DESTINATION_TYPES, enumName: 'SyncDestinationType', example: 'docker' })
  @IsIn(SYNC_DESTINATION_TYPES)
  destinationType: SyncDestinationType;

  /**
   * skopeo --scoped: name each image DESTINATION/host/repository:tag instead of
   * DESTINATION/last-component:tag. Into a registry, a host with a port is written
   * `host_port` (skopeo would build the invalid `host:port/…`).
   */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  scoped?: boolean;

  /** skopeo --append-suffix: appended to every destination tag (digest entries keep their digest). */
  @ApiPropertyOptional({ example: '-mirror' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  @Matches(/^[\w.-]*$/, { message: 'appendSuffix may only contain letters, digits, "_", "." and "-"' })
  appendSuffix?: string;

  /** skopeo --all: copy every instance of multi-arch images (default: the instance for the server's platform). */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  all?: boolean;

  /**
   * skopeo --dry-run: write nothing; the result lists every image, its destination, its digest
   * and the bytes a real run would transfer (`planned`), or `skipped` when the destination is
   * already up to date. Manifests are read and blobs checked with HEAD requests.
   */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;

  /**
   * skopeo --keep-going: an image that fails is recorded (`failed`, with its error) and the
   * others continue; the operation then succeeds with the failures in its result. Without it
   * the first failure fails the operation, and its result lists what was done until then.
   */
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  keepGoing?: boolean;

  /**
   * Platform subsets of multi-arch images, `os/architecture[/variant]` (instead of `all`):
   * each chooses the instance skopeo would for `--override-os/arch/variant`; see `multiArch`.
   */
  @ApiPropertyOptional({ type: [String], example: ['linux/amd64', 'linux/arm64/v8'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(64)
  @Matches(PLATFORM_SPEC, { each: true, message: 'each platform must be os/architecture[/variant], e.g. linux/arm64/v8' })
  platforms?: string[];

  /**
   * With `platforms`: `filtered` (default; a new index with only those platforms, a new digest)
   * or `sparse` (those instances and the source index unchanged; refused by registries that
   * check an index's instances).
   */
  @ApiPropertyOptional({ enum: ['filtered', 'sparse'], enumName: 'PlatformSubsetMode', default: 'filtered' })
  @IsOptional()
  @IsIn(['filtered', 'sparse'])
  multiArch?: 'filtered' | 'sparse';

  /** `all`: bring every image's referrers along (signatures, SBOMs; see POST /v1/copies). Registry destinations only. */
  @ApiPropertyOptional({ enum: ['none', 'all'], enumName: 'ReferrersMode', default: 'none' })
  @IsOptional()
  @IsIn(['none', 'all'])
  referrers?: 'none' | 'all';

  /** With referrers `all`: only referrers of these artifact types. */
  @ApiPropertyOptional({ type: [String], example: ['application/spdx+json'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @Matches(MEDIA_TYPE, { each: true, message: 'each artifact type must be a media type (type/subtype)' })
  artifactTypes?: string[];

  /**
   * Before pulling from a registry that announces its rate limit (`RateLimit-Remaining`), wait
   * for the window to reset instead of going below this many remaining pulls. Up-to-date checks
   * use HEAD requests, which do not count.
   */
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 1000000, example: 10 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  rateLimitFloor?: number;
}
