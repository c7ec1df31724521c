import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, MaxLength, ValidateIf } from 'class-validator';
import { QueryBoolean } from '../http/query-boolean';

/** Body of PUT /v1/credentials/{registry}: a username and password, or an identity token. */
export class LoginDto {
  /** Registry user name. */
  @ApiPropertyOptional({ example: 'ci-bot' })
  @ValidateIf((o: LoginDto) => o.identityToken === undefined)
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  username?: string;

  /** Registry password (write-only; never returned). */
  @ApiPropertyOptional({ writeOnly: true, example: 's3cret' })
  @ValidateIf((o: LoginDto) => o.identityToken === undefined)
  @IsString()
  @IsNotEmpty()
  @MaxLength(65536)
  password?: string;

  /** An OAuth2 refresh token (identity token) instead of a password (write-only). */
  @ApiPropertyOptional({ writeOnly: true })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(65536)
  identityToken?: string;
}

export class LoginQueryDto {
  /** `false` skips TLS verification while checking the credentials. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** A stored login, never with its secret. */
export class CredentialSummaryDto {
  @ApiProperty({ example: 'registry.example:5000' })
  registry: string;

  @ApiProperty({ example: 'ci-bot' })
  username: string;

  /** `stored` = saved through this API; `external` = read from REGISTRY_AUTH_FILE. */
  @ApiProperty({ enum: ['stored', 'external'] })
  source: 'stored' | 'external';
}
