import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { QueryBoolean } from '../http/query-boolean';
import { MEDIA_TYPE } from '../image-spec/media-types';

/** Query of GET /v1/images/referrers. */
export class ReferrersQueryDto {
  /** The image whose referrers to list (`docker://…` or `oci:…`): its manifest digest is the subject. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:1.0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  image: string;

  /** Only referrers of this artifact type (e.g. `application/spdx+json`). */
  @ApiPropertyOptional({ example: 'application/spdx+json' })
  @IsOptional()
  @Matches(MEDIA_TYPE, { message: 'artifactType must be a media type (type/subtype)' })
  artifactType?: string;

  /** `false` skips TLS verification and allows plain HTTP. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** A manifest that refers to the image (a signature, an SBOM, an attestation). */
export class ReferrerDto {
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  @ApiProperty({ example: 'application/vnd.oci.image.manifest.v1+json' })
  mediaType: string;

  /** The manifest's `artifactType`, else its config's media type (a cosign signature: its layer's). */
  @ApiPropertyOptional({ example: 'application/spdx+json' })
  artifactType?: string;

  /** Size of the referrer's manifest in bytes. */
  @ApiProperty({ type: 'integer', example: 745 })
  size: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, example: { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' } })
  annotations?: Record<string, string>;

  /** Set for a cosign-style digest tag (`sha256-<hex>.sig`, `.att`, `.sbom`) found instead of through a `subject`. */
  @ApiPropertyOptional({ example: 'sha256-2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae.sig' })
  tag?: string;
}

/** Answer of GET /v1/images/referrers. */
export class ReferrersListDto {
  /** The image as given. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:1.0' })
  image: string;

  /** The subject: digest of the image's (top-level) manifest. */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  /** How they were found: the registry's OCI 1.1 referrers API, the fallback `sha256-<hex>` tag index, or an OCI layout's index.json. */
  @ApiProperty({ enum: ['referrers-api', 'tag-schema', 'layout'], enumName: 'ReferrersIndex', example: 'referrers-api' })
  foundBy: 'referrers-api' | 'tag-schema' | 'layout';

  @ApiProperty({ type: [ReferrerDto] })
  referrers: ReferrerDto[];
}
