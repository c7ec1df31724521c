import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';
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

  /**
   * Names of the principals that may use these credentials (their copies, syncs and reads
   * through this registry). Default: the principals with the `credentials:admin` scope.
   */
  @ApiPropertyOptional({ type: [String], example: ['team-a', 'ci'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(256)
  @IsString({ each: true })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { each: true, message: 'each usableBy entry must be a principal name' })
  usableBy?: string[];
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
  @ApiProperty({ enum: ['stored', 'external'], enumName: 'CredentialSource' })
  source: 'stored' | 'external';

  /** Principals that may use a stored login, when set at login (absent: the principals with `credentials:admin`); shown to those principals only. */
  @ApiPropertyOptional({ type: [String], example: ['team-a'] })
  usableBy?: string[];
}
