import { applyDecorators } from '@nestjs/common';
import { ApiHideProperty, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, Equals, IsArray, IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';
import { GLOB } from '../tags/tag-filter';
import { QueryBoolean } from '../http/query-boolean';
import { PLATFORM_WORD } from '../image-spec/manifest';


/**
 * A query parameter that is gone (0.x): present at all, it is a 400 whose message names the
 * operation that replaced it. Each use also needs @ApiHideProperty() (the swagger plugin only sees it written out).
 */
function Replaced(message: string): PropertyDecorator {
  return applyDecorators(ValidateIf(() => true), Equals(undefined, { message }));
}

/** The image and instance every image read takes (manifest, config, inspect, inspect text). */
export class ImageQueryDto {
  /** The image, in skopeo's transport syntax, e.g. `docker://registry.example/app:1.2`. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:1.0', maxLength: 4096 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  image: string;

  /** Operating system of the instance to pick from a multi-arch index (skopeo `--override-os`). */
  @ApiPropertyOptional({ example: 'linux', pattern: PLATFORM_WORD.source })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  os?: string;

  /** Architecture of the instance to pick (skopeo `--override-arch`). */
  @ApiPropertyOptional({ example: 'arm64', pattern: PLATFORM_WORD.source })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  arch?: string;

  /** Variant of the instance to pick (skopeo `--override-variant`). */
  @ApiPropertyOptional({ example: 'v8', pattern: PLATFORM_WORD.source })
  @IsOptional()
  @Matches(PLATFORM_WORD)
  variant?: string;

  /** `false` skips TLS verification and allows plain HTTP (skopeo `--tls-verify=false`). */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** Query of GET /v1/images/inspect. */
export class InspectQueryDto extends ImageQueryDto {
  /** Skip listing the repository's tags; RepoTags is then empty (skopeo `--no-tags`). */
  @ApiPropertyOptional({ type: Boolean, default: false })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  noTags?: boolean;

  @ApiHideProperty()
  @Replaced('raw is gone: GET /v1/images/manifest answers the manifest bytes as stored')
  raw?: unknown;

  @ApiHideProperty()
  @Replaced('config is gone: GET /v1/images/config answers the image config as OCI JSON, GET /v1/images/blobs/{digest} its bytes')
  config?: unknown;

  @ApiHideProperty()
  @Replaced('format is gone: GET /v1/images/inspect/text?format= renders a Go template as text/plain')
  format?: unknown;
}

/** Query of GET /v1/images/inspect/text. */
export class InspectTextQueryDto extends ImageQueryDto {
  /** Go template over the inspect fields (skopeo `--format`), e.g. `{{.Digest}}`; `\t` is a tab and a final newline is added, as the skopeo CLI does. */
  @ApiProperty({ example: '{{.Digest}} {{.Architecture}}', maxLength: 4096 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  format: string;

  /** Skip listing the repository's tags; `.RepoTags` is then empty (skopeo `--no-tags`). */
  @ApiPropertyOptional({ type: Boolean, default: false })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  noTags?: boolean;
}

/** A query list: repeated parameters and/or comma-separated values. */
function QueryList(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => (typeof value === 'string' || Array.isArray(value) ? ([] as unknown[]).concat(value).flatMap((v) => (typeof v === 'string' ? v.split(',') : [v])) : value));
}

/** Query of GET /v1/images/tags. */
export class TagsQueryDto {
  /** A repository without tag or digest (`docker://registry.example/app`), or a `docker-archive:` path. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  repository: string;

  /** Keep only tags matching one of these globs (`*` any run, `?` one character; repeated or comma-separated). */
  @ApiPropertyOptional({ type: [String], example: ['1.*', 'latest'] })
  @IsOptional()
  @QueryList()
  @IsArray()
  @ArrayMaxSize(16)
  @Matches(GLOB, { each: true, message: 'each pattern may hold letters, digits, "_", ".", "-", "*" and "?" only (1 to 128 characters)' })
  include?: string[];

  /** Leave out tags matching one of these globs. */
  @ApiPropertyOptional({ type: [String], example: ['*-rc*'] })
  @IsOptional()
  @QueryList()
  @IsArray()
  @ArrayMaxSize(16)
  @Matches(GLOB, { each: true, message: 'each pattern may hold letters, digits, "_", ".", "-", "*" and "?" only (1 to 128 characters)' })
  exclude?: string[];

  /** Leave out digest tags: fallback referrers tags (`sha256-<hex>`) and cosign's `sha256-<hex>.sig/.att/.sbom`. */
  @ApiPropertyOptional({ type: Boolean, default: false })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  excludeDigestTags?: boolean;

  /** `false` skips TLS verification and allows plain HTTP. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** Query of DELETE /v1/images. */
export class DeleteQueryDto {
  /** The image to delete, e.g. `docker://registry.example/app:old`. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:old' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  image: string;

  /** `false` skips TLS verification and allows plain HTTP. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** A layer as skopeo prints it in LayersData. */
export class InspectLayerDto {
  @ApiProperty({ example: 'application/vnd.oci.image.layer.v1.tar+gzip' })
  MIMEType: string;

  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  Digest: string;

  /** Compressed size in bytes (-1 when unknown, as for schema1). */
  @ApiProperty({ type: 'integer', format: 'int64', example: 3623807 })
  Size: number;

  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, nullable: true })
  Annotations: Record<string, string> | null;
}

/** skopeo inspect's JSON, field for field. */
export class InspectOutputDto {
  /** Repository name (omitted when the transport has no docker reference). */
  @ApiPropertyOptional({ example: '127.0.0.1:5000/app' })
  Name?: string;

  /** The tag recorded in a Docker schema 1 manifest; omitted for every other manifest type and when empty. */
  @ApiPropertyOptional({ example: 'latest' })
  Tag?: string;

  /** Digest of the top-level manifest (the index for a multi-arch image). */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  Digest: string;

  /** Every tag of the repository (docker:// only; empty with noTags and for other transports). */
  @ApiProperty({ type: [String] })
  RepoTags: string[];

  /** Creation time from the config (RFC 3339, as Go prints it); null when the config has none. */
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '2024-01-02T03:04:05Z' })
  Created: string | null;

  @ApiProperty({ example: '' })
  DockerVersion: string;

  /** Config labels; null when there are none. */
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, nullable: true })
  Labels: Record<string, string> | null;

  @ApiProperty({ example: 'amd64' })
  Architecture: string;

  @ApiProperty({ example: 'linux' })
  Os: string;

  /** CPU variant (skopeo computes it but does not print it). */
  @ApiPropertyOptional({ example: 'v8' })
  Variant?: string;

  /** Layer blob digests, in manifest order. */
  @ApiProperty({ type: [String] })
  Layers: string[];

  @ApiProperty({ type: [InspectLayerDto] })
  LayersData: InspectLayerDto[];

  /** Config environment; null when absent. */
  @ApiProperty({ type: [String], nullable: true })
  Env: string[] | null;
}

/** skopeo list-tags' JSON. */
export class TagListDto {
  @ApiProperty({ example: '127.0.0.1:5000/app' })
  Repository: string;

  @ApiProperty({ type: [String], example: ['1.0', 'latest'] })
  Tags: string[];
}

/** Answer of DELETE /v1/images. */
export class DeletedImageDto {
  /** The reference as given. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:old' })
  image: string;

  /** Digest of the manifest that was deleted. */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;
}
