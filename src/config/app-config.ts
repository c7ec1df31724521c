import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DAEMON_TRANSPORTS, TRANSPORT_NAMES, type TransportName } from '../image-spec/image-reference';
import { parseCidr } from '../egress/ip-address';
import { parsePrincipalsDocument, type PrincipalSpec } from './principals-file';

/**
 * The whole configuration, parsed and validated once at boot. Only this folder reads
 * `process.env`; everything else receives an AppConfig (Nest token APP_CONFIG).
 */
export interface RegistrySettings {
  /** `host[:port]` this entry applies to. */
  location: string;
  /** Allow plain HTTP and skip TLS verification for this registry (skopeo's `--tls-verify=false`). */
  insecure: boolean;
  /** PEM bundle of extra CAs trusted for this registry. */
  caFile?: string;
  /** PEM client certificate and key for mutual TLS. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface AppConfig {
  host: string;
  port: number;
  dataDir: string;
  storageRoot: string;
  /** Bearer tokens accepted on /v1/*; empty = no protection (only allowed on loopback). */
  apiTokens: string[];
  /** Start on a non-loopback address without API tokens (explicit opt-out). */
  allowInsecureBind: boolean;
  logLevel: LogLevel;
  registries: RegistrySettings[];
  /** An existing auth file (containers-auth.json / docker config.json) read as a fallback. */
  externalAuthFile?: string;
  /** Upstream HTTP: retries on 408/429/5xx/resets, deadlines and the throughput floor. */
  upstream: UpstreamSettings;
  /** Where the registry client may connect (the egress policy). */
  egress: EgressSettings;
  dockerHost: string;
  /** Docker CLI TLS settings for a `tcp://` DOCKER_HOST: DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), DOCKER_TLS_VERIFY. */
  dockerTls: { certPath?: string; verify: boolean };
  containerHost: string;
  operations: OperationsSettings;
  /** Copy engine: concurrent blob transfers per registry host, shared by all jobs. */
  copy: { perHostConcurrency: number };
  /**
   * Image archives (docker-archive:, oci-archive:) read by extracting them: the most entries
   * (SKIFF_ARCHIVE_MAX_ENTRIES) and the most bytes in total (SKIFF_ARCHIVE_MAX_BYTES, also the
   * limit for one entry) an archive may have; beyond them it is refused as ARCHIVE_INVALID.
   */
  archive: { maxEntries: number; maxBytes: number };
  /** Syncs (POST /v1/syncs). */
  sync: SyncSettings;
  /** Local storage (storage root, staging area): see StorageSettings. */
  storage: StorageSettings;
  /** Running as a shared service: callers, what they may use, and the limits that keep it up. */
  security: SecuritySettings;
  // ---- operations fleet: database, replicas, secrets (one block) ----
  /** Where operations live: embedded SQLite in the data directory, or PostgreSQL shared by replicas. */
  database: DatabaseSettings;
  /**
   * AES-256 keys (SKIFF_SECRET_KEY or SKIFF_SECRET_KEY_FILE, 64 hex characters each, a
   * comma-separated list): the first encrypts, every one decrypts. Empty: no key.
   */
  secretKeys: Buffer[];
}

/** The operations database. */
export interface DatabaseSettings {
  /** `postgres://…` (SKIFF_DATABASE_URL): PostgreSQL shared by every replica; undefined: SQLite in the data directory. */
  url?: string;
  /** Start on an empty database even though the data directory held operations (SKIFF_START_FRESH). */
  startFresh: boolean;
  /** SQLite backups (`VACUUM INTO`): where (SKIFF_BACKUP_DIR), how often (SKIFF_BACKUP_INTERVAL_HOURS, 0 = never), how many kept (SKIFF_BACKUP_KEEP). */
  backup: { dir: string; intervalHours: number; keep: number };
  /** PostgreSQL connections per process (SKIFF_DATABASE_POOL_SIZE). */
  poolSize: number;
}

/** 64 hex characters → 32 bytes; a comma-separated list gives several keys (the first encrypts). */
export function parseSecretKeys(name: string, text: string): Buffer[] {
  const keys = text
    .split(/[,\s]+/)
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (keys.length === 0) throw new ConfigError(`${name} holds no key`);
  return keys.map((k, i) => {
    if (!/^[0-9a-fA-F]{64}$/.test(k)) throw new ConfigError(`${name}: key ${i + 1} must be 64 hexadecimal characters (32 random bytes), e.g. from "openssl rand -hex 32"`);
    return Buffer.from(k, 'hex');
  });
}

export interface StorageSettings {
  /**
   * Readiness floor (SKIFF_MIN_FREE_BYTES): /readyz is not ready while the data directory, its
   * staging area or the storage root has fewer free bytes than this. 0 disables the floor.
   */
  minFreeBytes: number;
  /**
   * Lease period of a replica's hold on the storage root (SKIFF_STORAGE_LEASE_SECONDS): the
   * heartbeat of its lease and of the layout locks it holds is renewed every third of it; a
   * replica silent for longer is taken for gone (its locks taken over, its leftovers swept).
   */
  leaseSeconds: number;
}

/** Where audit lines go: stdout as `"log":"audit"` lines (default), a file of their own, or nowhere. */
export type AuditLogTarget = { kind: 'stdout' } | { kind: 'file'; path: string } | { kind: 'off' };

export interface SecuritySettings {
  /** Callers from SKIFF_PRINCIPALS_FILE (YAML or JSON); empty without the file. */
  principals: PrincipalSpec[];
  /** Transports by reference prefix (SKIFF_TRANSPORTS); default: all but docker-daemon and containers-storage. */
  transports: TransportName[];
  /** `/metrics` without a token when tokens or principals are configured (SKIFF_METRICS_PUBLIC). */
  metricsPublic: boolean;
  /** Requests per minute per principal (SKIFF_RATE_LIMIT_PER_MINUTE); 0 = unlimited. The local user is never limited. */
  rateLimitPerMinute: number;
  /** docker-archive:/oci-archive: inspects and tag listings open at once (SKIFF_ARCHIVE_INSPECT_CONCURRENCY); more → 503. */
  archiveInspectConcurrency: number;
  /** Browser origins allowed by CORS (SKIFF_CORS_ORIGINS, `scheme://host[:port]`); empty = no CORS headers. */
  corsOrigins: string[];
  /** Extra Host header names accepted without tokens, besides loopback names and SKIFF_HOST (SKIFF_ALLOWED_HOSTS). */
  allowedHosts: string[];
  /** SKIFF_AUDIT_LOG: `stdout` (default), `off`, or a file path (appended, mode 0600). */
  auditLog: AuditLogTarget;
  // ---- failed authentication attempts (one block) ----
  /**
   * Failed token attempts per client address per minute before 429 (SKIFF_AUTH_FAILURES_PER_MINUTE,
   * default 30; 0 = unlimited). Only in shared mode (tokens or principals configured).
   */
  authFailuresPerMinute: number;
  /** Loopback clients are not counted (SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK, default false). */
  authFailuresExemptLoopback: boolean;
  /**
   * Reverse proxies whose `X-Forwarded-For` names the client (SKIFF_TRUSTED_PROXIES: CIDRs,
   * comma-separated, normalised; default none: the socket's address is the client's).
   */
  trustedProxies: string[];
}

/** The transports enabled when SKIFF_TRANSPORTS is unset: the engine (daemon) transports are opt-in. */
export const DEFAULT_TRANSPORTS: readonly TransportName[] = TRANSPORT_NAMES.filter((t) => !DAEMON_TRANSPORTS.includes(t));

function parseTransports(v: string | undefined): TransportName[] {
  if (v === undefined) return [...DEFAULT_TRANSPORTS];
  const list = v.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of list) {
    if (!(TRANSPORT_NAMES as readonly string[]).includes(t)) throw new ConfigError(`SKIFF_TRANSPORTS: unknown transport "${t}" (known: ${TRANSPORT_NAMES.join(', ')})`);
  }
  return [...new Set(list as TransportName[])];
}

function parseOrigins(v: string | undefined): string[] {
  if (v === undefined) return [];
  return v.split(',').map((o) => o.trim()).filter((o) => o !== '').map((o) => {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new ConfigError(`SKIFF_CORS_ORIGINS: "${o}" is not an origin (scheme://host[:port])`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== o.replace(/\/$/, '') || url.username || url.password) {
      throw new ConfigError(`SKIFF_CORS_ORIGINS: "${o}" is not an origin (scheme://host[:port], no path)`);
    }
    return url.origin;
  });
}

function parseSecurity(get: (envName: string, key: string) => string | undefined, cwd: string): SecuritySettings {
  const principalsPath = get('SKIFF_PRINCIPALS_FILE', 'principalsFile');
  let principals: PrincipalSpec[] = [];
  if (principalsPath) {
    const p = resolve(cwd, principalsPath);
    try {
      principals = parsePrincipalsDocument(readStructuredFile(p, 'SKIFF_PRINCIPALS_FILE file'));
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(`SKIFF_PRINCIPALS_FILE ${p}: ${(e as Error).message}`);
    }
  }
  const audit = get('SKIFF_AUDIT_LOG', 'auditLog') ?? 'stdout';
  const auditLog: AuditLogTarget = audit === 'stdout' ? { kind: 'stdout' } : audit === 'off' ? { kind: 'off' } : { kind: 'file', path: resolve(cwd, audit) };
  const allowedHosts = (get('SKIFF_ALLOWED_HOSTS', 'allowedHosts') ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
  for (const h of allowedHosts) if (!isListenHost(h)) throw new ConfigError(`SKIFF_ALLOWED_HOSTS: "${h}" is not a host name or address (no port)`);
  return {
    principals,
    transports: parseTransports(get('SKIFF_TRANSPORTS', 'transports')),
    metricsPublic: parseBool('SKIFF_METRICS_PUBLIC', get('SKIFF_METRICS_PUBLIC', 'metricsPublic'), false),
    rateLimitPerMinute: parseInteger('SKIFF_RATE_LIMIT_PER_MINUTE', get('SKIFF_RATE_LIMIT_PER_MINUTE', 'rateLimitPerMinute'), 1200, 0, 1_000_000),
    archiveInspectConcurrency: parseInteger('SKIFF_ARCHIVE_INSPECT_CONCURRENCY', get('SKIFF_ARCHIVE_INSPECT_CONCURRENCY', 'archiveInspectConcurrency'), 4, 1, 256),
    corsOrigins: parseOrigins(get('SKIFF_CORS_ORIGINS', 'corsOrigins')),
    allowedHosts,
    auditLog,
    // ---- failed authentication attempts (one block) ----
    authFailuresPerMinute: parseInteger('SKIFF_AUTH_FAILURES_PER_MINUTE', get('SKIFF_AUTH_FAILURES_PER_MINUTE', 'authFailuresPerMinute'), 30, 0, 1_000_000),
    authFailuresExemptLoopback: parseBool('SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK', get('SKIFF_AUTH_FAILURES_EXEMPT_LOOPBACK', 'authFailuresExemptLoopback'), false),
    trustedProxies: parseCidrList('SKIFF_TRUSTED_PROXIES', get('SKIFF_TRUSTED_PROXIES', 'trustedProxies')),
  };
}

// ---- registry client: upstream deadlines and egress (one block) ----
/**
 * Deadlines of upstream registry calls. Defaults: a dead registry fails a call in at most
 * `callTimeoutMs` (30 s) whatever the retries; a body moving at 256 KiB/s or more (a 1 GB layer
 * in at most 68 minutes) always finishes; a slower one, measured over 30 s of waiting on the
 * registry, is a stall.
 */
export interface UpstreamSettings {
  /** Retries of one call on 408/429/5xx and connection failures (SKIFF_UPSTREAM_RETRIES). */
  retryTimes: number;
  /** DNS + TCP + TLS of one connection (SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS, default 5 s). */
  connectTimeoutMs: number;
  /** From the request sent (its body included) to the answer's headers (SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS, default 15 s). */
  firstByteTimeoutMs: number;
  /** Slowest body transfer accepted, either direction, in bytes/s; 1 leaves only complete stalls (SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND, default 262144). */
  minBytesPerSecond: number;
  /** The window the floor is measured over, in seconds of waiting on the registry (SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS, default 30). */
  throughputWindowSeconds: number;
  /** One call to its answer, every retry and backoff included (SKIFF_UPSTREAM_TIMEOUT_MS, default 30 s). */
  callTimeoutMs: number;
  /** `n` sent with tag-list requests (SKIFF_TAGS_PAGE_SIZE); unset lets the registry choose. */
  tagsPageSize?: number;
}

export interface EgressSettings {
  /**
   * The service is shared (API tokens or a principals file configured, or it listens beyond
   * loopback, e.g. with SKIFF_ALLOW_INSECURE_BIND): loopback, private,
   * CGNAT and unique-local addresses are reached only for registries listed in the registries
   * file or addresses inside `allowNetworks`. Single-user (loopback, no tokens) reaches them.
   */
  sharedMode: boolean;
  /** CIDRs from the registries file's `egress.allowNetworks`, normalised. */
  allowNetworks: string[];
}

/** A comma-separated list of CIDRs (normalised); a bad one stops the start naming the variable. */
function parseCidrList(name: string, raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t) => {
      const cidr = parseCidr(t);
      if (!cidr) throw new ConfigError(`${name}: ${JSON.stringify(t)} is not a CIDR like 10.0.0.0/8 or fd00::/8 (no host bits set)`);
      return cidr.text;
    });
}

/** The registries file's top-level `egress: {allowNetworks: [CIDR…]}`. */
export function parseEgressConfig(doc: Record<string, unknown>): { allowNetworks: string[] } {
  const egress = doc['egress'];
  if (egress === undefined || egress === null) return { allowNetworks: [] };
  if (typeof egress !== 'object' || Array.isArray(egress)) throw new ConfigError('registries config: "egress" must be a mapping');
  const e = egress as Record<string, unknown>;
  for (const k of Object.keys(e)) if (k !== 'allowNetworks') throw new ConfigError(`registries config: egress: unknown key "${k}"`);
  const list = e['allowNetworks'] ?? [];
  if (!Array.isArray(list)) throw new ConfigError('registries config: egress.allowNetworks must be a list of CIDRs');
  return {
    allowNetworks: list.map((raw, i) => {
      const cidr = typeof raw === 'string' ? parseCidr(raw.trim()) : undefined;
      if (!cidr) throw new ConfigError(`registries config: egress.allowNetworks[${i}] must be a CIDR like 10.20.0.0/16 or fd00:1234::/32 (no host bits set), got ${JSON.stringify(raw)}`);
      return cidr.text;
    }),
  };
}
// ---- end of the registry client block ----

export interface SyncSettings {
  /** Images one sync copies at once (SKIFF_SYNC_CONCURRENCY); blob transfers stay under the per-host limits. */
  concurrency: number;
  /**
   * Directories (absolute, existing) a sync YAML's `cert-dir` may name, itself or a directory
   * inside it (SKIFF_SYNC_CERT_DIRS, comma-separated). Empty: `cert-dir` is refused.
   */
  certDirs: string[];
}

/** The operations worker and store. */
export interface OperationsSettings {
  /** Operations run at once (SKIFF_MAX_CONCURRENT_OPERATIONS); the rest wait, FIFO. */
  maxConcurrent: number;
  /** On shutdown, how long running operations may finish before they are stopped and re-queued. */
  shutdownGraceSeconds: number;
  /** Finished operations (and their events) are deleted this long after they finished. */
  retentionHours: number;
  // ---- operations fleet (one block) ----
  /** This process's name in logs and in the operations it runs (SKIFF_REPLICA_ID; default host name and pid). */
  replicaId: string;
  /**
   * Whether SKIFF_REPLICA_ID was set: the replica then keeps its identity across restarts and
   * data directories, and its storage owner id derives from it (storage/data-dir.ts).
   */
  replicaIdConfigured: boolean;
  /** A running operation's lease (SKIFF_LEASE_SECONDS): renewed every third of it; another replica takes over once it lapses. */
  leaseSeconds: number;
  /** Runs an operation may start (SKIFF_OPERATION_MAX_ATTEMPTS); interrupted more often, it fails with its last error. */
  maxAttempts: number;
  /** Longest an operation may run from its first start (SKIFF_OPERATION_DEADLINE_SECONDS); then it fails saying so. */
  deadlineSeconds: number;
  /** Most operations queued at once (SKIFF_QUEUE_MAX); beyond, submissions are 429 QUEUE_FULL with Retry-After. */
  queueMax: number;
  /** Open event streams: per process (SKIFF_MAX_EVENT_STREAMS) and per principal (SKIFF_MAX_EVENT_STREAMS_PER_PRINCIPAL). */
  maxEventStreams: number;
  maxEventStreamsPerPrincipal: number;
  /** Waiting long-polls (`waitSeconds`, `Prefer: wait`): per process (SKIFF_MAX_LONG_POLLS) and per principal (SKIFF_MAX_LONG_POLLS_PER_PRINCIPAL). */
  maxLongPolls: number;
  maxLongPollsPerPrincipal: number;
}

export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function str(env: Env, file: Record<string, unknown>, envName: string, fileKey: string): string | undefined {
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const v = file[fileKey];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new ConfigError(`config file key "${fileKey}" must be a scalar`);
  }
  return String(v);
}

function parseBool(name: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${v}"`);
}

function parseInteger(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new ConfigError(`${name} must be an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A comma-separated list of existing directories, resolved against `cwd`. */
function parseDirectoryList(name: string, v: string | undefined, cwd: string): string[] {
  if (v === undefined) return [];
  return v
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .map((d) => {
      const p = resolve(cwd, d);
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch (e) {
        throw new ConfigError(`${name}: cannot use ${p}: ${(e as Error).message}`);
      }
      if (!isDir) throw new ConfigError(`${name}: ${p} is not a directory`);
      return p;
    });
}

function readStructuredFile(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${what} ${path} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${what} ${path} must be a mapping`);
  return doc as Record<string, unknown>;
}

const LOCATION = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

/** A name or address to listen on, without a port: a host name, an IPv4 address, an IPv6 address (bare or in brackets). */
function isListenHost(host: string): boolean {
  const bracketed = /^\[(.*)\]$/.exec(host);
  if (bracketed) return isIP(bracketed[1]!) === 6;
  if (isIP(host) !== 0) return true;
  return /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/.test(host);
}

/**
 * Parses the registries file: `registries: [{location, insecure, ca, clientCert, clientKey}]`.
 * Relative file paths are resolved against the file's directory.
 */
export function parseRegistriesConfig(doc: Record<string, unknown>, baseDir: string): RegistrySettings[] {
  const list = doc['registries'] ?? [];
  if (!Array.isArray(list)) throw new ConfigError('registries config: "registries" must be a list');
  const seen = new Set<string>();
  return list.map((raw, i) => {
    const where = `registries config: entry ${i}`;
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${where} must be a mapping`);
    const e = raw as Record<string, unknown>;
    const known = new Set(['location', 'insecure', 'ca', 'clientCert', 'clientKey', 'mirrors']);
    for (const k of Object.keys(e)) if (!known.has(k)) throw new ConfigError(`${where}: unknown key "${k}"`);
    const location = e['location'];
    if (typeof location !== 'string' || !LOCATION.test(location)) {
      throw new ConfigError(`${where}: "location" must be host[:port], got ${JSON.stringify(location)}`);
    }
    // Host names are case-insensitive (and stored lower-cased): compare them that way.
    if (seen.has(location.toLowerCase())) throw new ConfigError(`${where}: duplicate location "${location}"`);
    seen.add(location.toLowerCase());
    if (e['mirrors'] !== undefined) throw new ConfigError(`${where}: "mirrors" are not supported yet`);
    const file = (key: string): string | undefined => {
      const v = e[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}: "${key}" must be a file path`);
      const p = isAbsolute(v) ? v : resolve(baseDir, v);
      try {
        readFileSync(p);
      } catch (err) {
        throw new ConfigError(`${where}: cannot read ${key} file ${p}: ${(err as Error).message}`);
      }
      return p;
    };
    if (e['insecure'] !== undefined && typeof e['insecure'] !== 'boolean') {
      throw new ConfigError(`${where}: "insecure" must be true or false`);
    }
    const settings: RegistrySettings = {
      location: location.toLowerCase(),
      insecure: e['insecure'] === true,
      caFile: file('ca'),
      clientCertFile: file('clientCert'),
      clientKeyFile: file('clientKey'),
    };
    if (!!settings.clientCertFile !== !!settings.clientKeyFile) {
      throw new ConfigError(`${where}: "clientCert" and "clientKey" go together`);
    }
    return settings;
  });
}

/** The upstream block of AppConfig (see UpstreamSettings for the defaults and why). */
function upstreamSettings(get: (envName: string, key: string) => string | undefined): UpstreamSettings {
  const tagsPageSize = get('SKIFF_TAGS_PAGE_SIZE', 'tagsPageSize');
  return {
    retryTimes: parseInteger('SKIFF_UPSTREAM_RETRIES', get('SKIFF_UPSTREAM_RETRIES', 'upstreamRetries'), 3, 0, 10),
    connectTimeoutMs: parseInteger('SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS', get('SKIFF_UPSTREAM_CONNECT_TIMEOUT_MS', 'upstreamConnectTimeoutMs'), 5_000, 100, 600_000),
    firstByteTimeoutMs: parseInteger('SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS', get('SKIFF_UPSTREAM_FIRST_BYTE_TIMEOUT_MS', 'upstreamFirstByteTimeoutMs'), 15_000, 100, 3_600_000),
    minBytesPerSecond: parseInteger('SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND', get('SKIFF_UPSTREAM_MIN_BYTES_PER_SECOND', 'upstreamMinBytesPerSecond'), 262_144, 1, 10 * 1024 ** 3),
    throughputWindowSeconds: parseInteger('SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS', get('SKIFF_UPSTREAM_THROUGHPUT_WINDOW_SECONDS', 'upstreamThroughputWindowSeconds'), 30, 1, 3600),
    callTimeoutMs: parseInteger('SKIFF_UPSTREAM_TIMEOUT_MS', get('SKIFF_UPSTREAM_TIMEOUT_MS', 'upstreamTimeoutMs'), 30_000, 100, 3_600_000),
    tagsPageSize: tagsPageSize === undefined ? undefined : parseInteger('SKIFF_TAGS_PAGE_SIZE', tagsPageSize, 0, 1, 10_000),
  };
}

/**
 * Builds the configuration from the environment (and the optional `SKIFF_CONFIG` YAML file,
 * whose camelCase keys the environment overrides). Throws ConfigError with a message naming
 * the offending variable.
 */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): AppConfig {
  const configFile = env['SKIFF_CONFIG'] ? readStructuredFile(resolve(cwd, env['SKIFF_CONFIG']), 'SKIFF_CONFIG file') : {};
  // Every SKIFF_CONFIG key is read through `get`, unconditionally, before the return: a file
  // key never asked for is unknown (a typo or a removed setting) and refused.
  const fileKeysRead = new Set<string>();
  const get = (envName: string, key: string) => {
    fileKeysRead.add(key);
    return str(env, configFile, envName, key);
  };

  const host = get('SKIFF_HOST', 'host') ?? '127.0.0.1';
  if (!isListenHost(host)) {
    if (LOCATION.test(host)) throw new ConfigError(`SKIFF_HOST must be a host without a port (use SKIFF_PORT), got "${host}"`);
    throw new ConfigError(`SKIFF_HOST is not a valid host: "${host}"`);
  }
  const port = parseInteger('SKIFF_PORT', get('SKIFF_PORT', 'port'), 8080, 0, 65535);
  const dataDir = resolve(cwd, get('SKIFF_DATA_DIR', 'dataDir') ?? './data');
  const storageRoot = resolve(cwd, get('SKIFF_STORAGE_ROOT', 'storageRoot') ?? resolve(dataDir, 'images'));
  const tokensRaw = get('SKIFF_API_TOKENS', 'apiTokens') ?? '';
  const apiTokens = tokensRaw.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  for (const t of apiTokens) {
    if (t.length < 16) throw new ConfigError('SKIFF_API_TOKENS: every token must be at least 16 characters long');
    if (!/^[\x21-\x7e]+$/.test(t)) throw new ConfigError('SKIFF_API_TOKENS: tokens must be printable ASCII without spaces');
  }
  const allowInsecureBind = parseBool('SKIFF_ALLOW_INSECURE_BIND', get('SKIFF_ALLOW_INSECURE_BIND', 'allowInsecureBind'), false);
  const security = parseSecurity(get, cwd);
  if (!isLoopbackHost(host) && apiTokens.length === 0 && security.principals.length === 0 && !allowInsecureBind) {
    throw new ConfigError(
      `refusing to listen on non-loopback address ${host} without SKIFF_API_TOKENS; ` +
        'set tokens or a SKIFF_PRINCIPALS_FILE, or SKIFF_ALLOW_INSECURE_BIND=true to accept unauthenticated access',
    );
  }
  const logLevel = (get('SKIFF_LOG_LEVEL', 'logLevel') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`SKIFF_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const registriesPath = get('SKIFF_REGISTRIES_CONFIG', 'registriesConfig');
  let registries: RegistrySettings[] = [];
  let egressFile: { allowNetworks: string[] } = { allowNetworks: [] };
  if (registriesPath) {
    const p = resolve(cwd, registriesPath);
    const doc = readStructuredFile(p, 'SKIFF_REGISTRIES_CONFIG file');
    registries = parseRegistriesConfig(doc, resolve(p, '..'));
    egressFile = parseEgressConfig(doc);
  }
  const externalAuthFile = get('REGISTRY_AUTH_FILE', 'authFile');

  // ---- operations fleet: database, replicas, secrets (one block) ----
  const fleet = (() => {
    const url = get('SKIFF_DATABASE_URL', 'databaseUrl');
    if (url !== undefined) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ConfigError('SKIFF_DATABASE_URL must be a postgres://user:password@host:port/database URL');
      }
      if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
        throw new ConfigError(`SKIFF_DATABASE_URL must start with postgres:// or postgresql:// (unset it for the embedded SQLite store), got "${parsed.protocol}//…"`);
      }
    }
    const keyText = get('SKIFF_SECRET_KEY', 'secretKey');
    const keyFile = get('SKIFF_SECRET_KEY_FILE', 'secretKeyFile');
    if (keyText !== undefined && keyFile !== undefined) throw new ConfigError('set SKIFF_SECRET_KEY or SKIFF_SECRET_KEY_FILE, not both');
    let secretKeys: Buffer[] = [];
    if (keyText !== undefined) secretKeys = parseSecretKeys('SKIFF_SECRET_KEY', keyText);
    if (keyFile !== undefined) {
      const p = resolve(cwd, keyFile);
      let text: string;
      try {
        text = readFileSync(p, 'utf8');
      } catch (e) {
        throw new ConfigError(`SKIFF_SECRET_KEY_FILE: cannot read ${p}: ${(e as Error).message}`);
      }
      secretKeys = parseSecretKeys(`SKIFF_SECRET_KEY_FILE (${p})`, text);
    }
    const configuredReplicaId = get('SKIFF_REPLICA_ID', 'replicaId');
    const replicaId = configuredReplicaId ?? `${hostname()}-${process.pid}`;
    if (!/^[\w.:@-]{1,128}$/.test(replicaId)) throw new ConfigError('SKIFF_REPLICA_ID must be 1 to 128 letters, digits or "_.:@-"');
    const int = (envName: string, key: string, dflt: number, min: number, max: number) => parseInteger(envName, get(envName, key), dflt, min, max);
    return {
      database: {
        url,
        startFresh: parseBool('SKIFF_START_FRESH', get('SKIFF_START_FRESH', 'startFresh'), false),
        backup: {
          dir: resolve(cwd, get('SKIFF_BACKUP_DIR', 'backupDir') ?? resolve(dataDir, 'backups')),
          intervalHours: int('SKIFF_BACKUP_INTERVAL_HOURS', 'backupIntervalHours', 0, 0, 8760),
          keep: int('SKIFF_BACKUP_KEEP', 'backupKeep', 7, 1, 1000),
        },
        poolSize: int('SKIFF_DATABASE_POOL_SIZE', 'databasePoolSize', 10, 2, 200),
      },
      secretKeys,
      operations: {
        replicaId,
        replicaIdConfigured: configuredReplicaId !== undefined,
        leaseSeconds: int('SKIFF_LEASE_SECONDS', 'leaseSeconds', 30, 2, 3600),
        maxAttempts: int('SKIFF_OPERATION_MAX_ATTEMPTS', 'operationMaxAttempts', 3, 1, 100),
        deadlineSeconds: int('SKIFF_OPERATION_DEADLINE_SECONDS', 'operationDeadlineSeconds', 86_400, 1, 30 * 86_400),
        queueMax: int('SKIFF_QUEUE_MAX', 'queueMax', 10_000, 1, 10_000_000),
        maxEventStreams: int('SKIFF_MAX_EVENT_STREAMS', 'maxEventStreams', 1000, 1, 100_000),
        maxEventStreamsPerPrincipal: int('SKIFF_MAX_EVENT_STREAMS_PER_PRINCIPAL', 'maxEventStreamsPerPrincipal', 100, 1, 100_000),
        maxLongPolls: int('SKIFF_MAX_LONG_POLLS', 'maxLongPolls', 1000, 1, 100_000),
        maxLongPollsPerPrincipal: int('SKIFF_MAX_LONG_POLLS_PER_PRINCIPAL', 'maxLongPollsPerPrincipal', 100, 1, 100_000),
      },
    };
  })();

  const config: AppConfig = {
    host,
    port,
    dataDir,
    storageRoot,
    apiTokens,
    allowInsecureBind,
    logLevel,
    registries,
    externalAuthFile: externalAuthFile ? resolve(cwd, externalAuthFile) : undefined,
    upstream: upstreamSettings(get),
    egress: {
      // Single-user is loopback-only without tokens; anything reachable by others is shared.
      sharedMode: apiTokens.length > 0 || security.principals.length > 0 || !isLoopbackHost(host),
      allowNetworks: egressFile.allowNetworks,
    },
    copy: {
      perHostConcurrency: parseInteger('SKIFF_COPY_PER_HOST_CONCURRENCY', get('SKIFF_COPY_PER_HOST_CONCURRENCY', 'copyPerHostConcurrency'), 6, 1, 64),
    },
    archive: {
      maxEntries: parseInteger('SKIFF_ARCHIVE_MAX_ENTRIES', get('SKIFF_ARCHIVE_MAX_ENTRIES', 'archiveMaxEntries'), 100_000, 1, 100_000_000),
      maxBytes: parseInteger('SKIFF_ARCHIVE_MAX_BYTES', get('SKIFF_ARCHIVE_MAX_BYTES', 'archiveMaxBytes'), 32 * 1024 ** 3, 1024, Number.MAX_SAFE_INTEGER),
    },
    sync: {
      concurrency: parseInteger('SKIFF_SYNC_CONCURRENCY', get('SKIFF_SYNC_CONCURRENCY', 'syncConcurrency'), 8, 1, 64),
      certDirs: parseDirectoryList('SKIFF_SYNC_CERT_DIRS', get('SKIFF_SYNC_CERT_DIRS', 'syncCertDirs'), cwd),
    },
    dockerHost: get('DOCKER_HOST', 'dockerHost') ?? 'unix:///var/run/docker.sock',
    dockerTls: {
      certPath: get('DOCKER_CERT_PATH', 'dockerCertPath') === undefined ? undefined : resolve(cwd, get('DOCKER_CERT_PATH', 'dockerCertPath')!),
      verify: get('DOCKER_TLS_VERIFY', 'dockerTlsVerify') !== undefined && get('DOCKER_TLS_VERIFY', 'dockerTlsVerify') !== '' && get('DOCKER_TLS_VERIFY', 'dockerTlsVerify') !== '0',
    },
    containerHost: get('CONTAINER_HOST', 'containerHost') ?? 'unix:///run/podman/podman.sock',
    storage: {
      minFreeBytes: parseInteger('SKIFF_MIN_FREE_BYTES', get('SKIFF_MIN_FREE_BYTES', 'minFreeBytes'), 128 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
      leaseSeconds: parseInteger('SKIFF_STORAGE_LEASE_SECONDS', get('SKIFF_STORAGE_LEASE_SECONDS', 'storageLeaseSeconds'), 30, 1, 3600),
    },
    operations: {
      maxConcurrent: parseInteger('SKIFF_MAX_CONCURRENT_OPERATIONS', get('SKIFF_MAX_CONCURRENT_OPERATIONS', 'maxConcurrentOperations'), 4, 1, 256),
      shutdownGraceSeconds: parseInteger('SKIFF_SHUTDOWN_GRACE_SECONDS', get('SKIFF_SHUTDOWN_GRACE_SECONDS', 'shutdownGraceSeconds'), 20, 0, 3600),
      retentionHours: parseInteger('SKIFF_OPERATION_RETENTION_HOURS', get('SKIFF_OPERATION_RETENTION_HOURS', 'operationRetentionHours'), 168, 1, 87_600),
      ...fleet.operations,
    },
    security,
    database: fleet.database,
    secretKeys: fleet.secretKeys,
  };
  for (const key of Object.keys(configFile)) {
    if (!fileKeysRead.has(key)) throw new ConfigError(`SKIFF_CONFIG file: unknown key "${key}"`);
  }
  return config;
}
