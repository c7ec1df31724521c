import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** A registry's rate limit as it last announced it (RateLimit-Limit / -Remaining / -Reset headers). */
export class RegistryRateLimitDto {
  /** Requests allowed per window. */
  @ApiPropertyOptional({ type: 'integer', example: 100 })
  limit?: number;

  /** Requests left in the current window, as of the last answer. */
  @ApiPropertyOptional({ type: 'integer', example: 76 })
  remaining?: number;

  /** Length of the window in seconds (`w=` of the header), when announced. */
  @ApiPropertyOptional({ type: 'integer', example: 21600 })
  windowSeconds?: number;

  /** When the window resets, when the registry said (RateLimit-Reset). */
  @ApiPropertyOptional({ example: '2026-12-03T18:00:00.000Z' })
  resetAt?: string;
}

/** The last failed call to the registry. */
export class RegistryLastErrorDto {
  /** The problem code skiff answered with, e.g. UPSTREAM_TIMEOUT, RATE_LIMITED. */
  @ApiProperty({ example: 'UPSTREAM_UNAVAILABLE' })
  code: string;

  /** What went wrong. */
  @ApiProperty({ example: 'reading manifest latest in registry.example/app: cannot reach registry registry.example: ECONNREFUSED' })
  detail: string;

  @ApiProperty({ example: '2026-12-03T17:01:02.345Z' })
  at: string;
}

/**
 * What this skiff process knows of a registry from its own calls since it started. A registry
 * it never talked to (or has forgotten after a day without calls) has only `registry`.
 */
export class RegistryStatusDto {
  /** The registry host[:port], normalised (`docker.io` for Docker Hub). */
  @ApiProperty({ example: 'registry.example:5000' })
  registry: string;

  /** Whether the last ping or call got an answer; absent when unknown. */
  @ApiPropertyOptional()
  reachable?: boolean;

  /** The auth scheme its `/v2/` challenge asks for. */
  @ApiPropertyOptional({ enum: ['bearer', 'basic', 'none'], enumName: 'RegistryAuthScheme' })
  authScheme?: 'bearer' | 'basic' | 'none';

  @ApiPropertyOptional({ type: RegistryRateLimitDto })
  rateLimit?: RegistryRateLimitDto;

  @ApiPropertyOptional({ type: RegistryLastErrorDto })
  lastError?: RegistryLastErrorDto;

  /** The last time the registry answered anything. */
  @ApiPropertyOptional({ example: '2026-12-03T17:01:02.345Z' })
  lastSeenAt?: string;
}
