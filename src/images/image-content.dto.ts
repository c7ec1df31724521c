import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { QueryBoolean } from '../http/query-boolean';

/** A digest as the OCI spec allows them here: sha256 or sha512, lower-case hex. */
export const DIGEST_PATTERN = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Path of GET /v1/images/blobs/{digest}. */
export class BlobParamsDto {
  /** The blob's digest. */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae', pattern: DIGEST_PATTERN.source })
  @Matches(DIGEST_PATTERN, { message: 'digest must be sha256:<64 hex> or sha512:<128 hex>' })
  digest: string;
}

/** Query of GET /v1/images/blobs/{digest}. */
export class BlobQueryDto {
  /**
   * Where the blob is: a registry repository without tag or digest (`docker://registry.example/team/app`),
   * or an image of a layout or archive (`oci:PATH[:NAME]`, `dir:PATH`, `docker-archive:PATH`, …), whose
   * storage holds the blob. The caller's patterns must cover the whole repository, layout or archive.
   */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app', maxLength: 4096 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  repository: string;

  /** `false` skips TLS verification and allows plain HTTP (skopeo `--tls-verify=false`). */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** A set of names as Go's `map[string]struct{}` marshals it: every value is the empty object. */
const NAME_SET = { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, description: 'Always `{}`' } } as const;

/** The runtime part of an image config (`config` of the OCI image config). Empty fields are left out, as Go's `omitempty`. */
export class OciContainerConfigDto {
  /** User (and group) the process runs as. */
  @ApiPropertyOptional({ example: '1000:1000' })
  User?: string;

  /** Ports the image exposes, e.g. `{"8080/tcp": {}}`. */
  @ApiPropertyOptional({ ...NAME_SET, example: { '8080/tcp': {} } })
  ExposedPorts?: Record<string, Record<string, never>>;

  /** Environment, `NAME=value`. */
  @ApiPropertyOptional({ type: [String], example: ['PATH=/usr/local/bin:/usr/bin'] })
  Env?: string[];

  @ApiPropertyOptional({ type: [String], example: ['/app/server'] })
  Entrypoint?: string[];

  @ApiPropertyOptional({ type: [String], example: ['--listen', ':8080'] })
  Cmd?: string[];

  /** Volume mount points, e.g. `{"/data": {}}`. */
  @ApiPropertyOptional({ ...NAME_SET, example: { '/data': {} } })
  Volumes?: Record<string, Record<string, never>>;

  @ApiPropertyOptional({ example: '/app' })
  WorkingDir?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, example: { 'org.opencontainers.image.source': 'https://git.example/app' } })
  Labels?: Record<string, string>;

  @ApiPropertyOptional({ example: 'SIGTERM' })
  StopSignal?: string;

  /** Windows only: whether Cmd/Entrypoint are already escaped. */
  @ApiPropertyOptional({ example: true })
  ArgsEscaped?: boolean;
}

/** The layers' content identities. */
export class OciRootFsDto {
  /** Always `layers`. */
  @ApiProperty({ example: 'layers' })
  type: string;

  /** Digests of the uncompressed layers, in order; null when the config has none. */
  @ApiProperty({ type: [String], nullable: true, example: ['sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae'] })
  diff_ids: string[] | null;
}

/** One step of the image's build history. */
export class OciHistoryDto {
  @ApiPropertyOptional({ format: 'date-time', example: '2024-01-02T03:04:05Z' })
  created?: string;

  @ApiPropertyOptional({ example: 'COPY server /app/server # buildkit' })
  created_by?: string;

  @ApiPropertyOptional({ example: 'team@example.com' })
  author?: string;

  @ApiPropertyOptional({ example: 'buildkit.dockerfile.v0' })
  comment?: string;

  /** The step made no layer. */
  @ApiPropertyOptional({ example: true })
  empty_layer?: boolean;
}

/**
 * The image config as an OCI image config, exactly as `skopeo inspect --config` prints it: a
 * Docker config converted, unknown fields dropped, empty ones left out.
 */
export class OciImageConfigDto {
  /** When the image was created (RFC 3339). */
  @ApiPropertyOptional({ format: 'date-time', example: '2024-01-02T03:04:05Z' })
  created?: string;

  @ApiPropertyOptional({ example: 'team@example.com' })
  author?: string;

  @ApiProperty({ example: 'arm64' })
  architecture: string;

  @ApiPropertyOptional({ example: 'v8' })
  variant?: string;

  @ApiProperty({ example: 'linux' })
  os: string;

  @ApiPropertyOptional({ name: 'os.version', example: '10.0.17763.1879' })
  'os.version'?: string;

  @ApiPropertyOptional({ name: 'os.features', type: [String], example: ['win32k'] })
  'os.features'?: string[];

  @ApiProperty({ type: OciContainerConfigDto })
  config: OciContainerConfigDto;

  @ApiProperty({ type: OciRootFsDto })
  rootfs: OciRootFsDto;

  @ApiPropertyOptional({ type: [OciHistoryDto] })
  history?: OciHistoryDto[];
}
