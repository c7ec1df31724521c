/**
 * Running the real `skopeo` CLI as the test oracle, isolated from the machine's
 * configuration.
 *
 * Contract: every run gets a per-process sandbox: HOME, XDG dirs, DOCKER_CONFIG and
 * REGISTRY_AUTH_FILE point into it (so the user's real credentials are never read),
 * CONTAINERS_REGISTRIES_CONF is an empty file, and `--policy` (insecureAcceptAnything)
 * plus `--registries.d` (empty dir) are passed unless `sandbox: false`.
 * `skopeo()` never throws for a non-zero exit; skopeoOk() and the typed helpers throw `SkopeoError`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Digest } from './images';
import type { TestRegistry } from './registry';
import { makeTmpDirSync } from './tmp';

const SKOPEO_BIN = process.env.SKIFF_TEST_SKOPEO_BIN || '/usr/bin/skopeo';

export interface SkopeoSandbox {
  dir: string;
  home: string;
  authFile: string;
  policyFile: string;
  registriesConf: string;
  registriesD: string;
  tmp: string;
}

let sandbox: SkopeoSandbox | undefined;

/** The per-process sandbox (created on first use, removed at exit). */
export function skopeoSandbox(): SkopeoSandbox {
  if (sandbox !== undefined) return sandbox;
  const dir = makeTmpDirSync('skiff-skopeo-');
  const s: SkopeoSandbox = {
    dir,
    home: join(dir, 'home'),
    authFile: join(dir, 'auth.json'),
    policyFile: join(dir, 'policy.json'),
    registriesConf: join(dir, 'registries.conf'),
    registriesD: join(dir, 'registries.d'),
    tmp: join(dir, 'tmp'),
  };
  for (const d of [s.home, s.registriesD, s.tmp, join(dir, 'run'), join(dir, 'docker')]) mkdirSync(d, { recursive: true });
  writeFileSync(s.authFile, '{"auths":{}}\n');
  writeFileSync(s.policyFile, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }) + '\n');
  writeFileSync(s.registriesConf, '');
  writeFileSync(join(dir, 'containers.conf'), '');
  sandbox = s;
  return s;
}

function sandboxEnv(s: SkopeoSandbox): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(REGISTRY_AUTH_FILE|DOCKER_CONFIG|XDG_|CONTAINERS_|HOME$|TMPDIR$)/.test(k)) continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: s.home,
    XDG_RUNTIME_DIR: join(s.dir, 'run'),
    XDG_CONFIG_HOME: join(s.home, '.config'),
    DOCKER_CONFIG: join(s.dir, 'docker'),
    REGISTRY_AUTH_FILE: s.authFile,
    CONTAINERS_REGISTRIES_CONF: s.registriesConf,
    CONTAINERS_CONF: join(s.dir, 'containers.conf'),
    TMPDIR: s.tmp,
  };
}

export interface SkopeoRunOptions {
  /** Extra/overriding environment variables. */
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Kill after this long; default 60 s. */
  timeoutMs?: number;
  /** Default true: sandbox env + `--policy` + `--registries.d`. */
  sandbox?: boolean;
}

export interface SkopeoResult {
  stdout: string;
  /** stdout as bytes (for `--raw`, where exact bytes matter). */
  stdoutBytes: Buffer;
  stderr: string;
  /** Exit code; -1 when killed by a signal (e.g. the timeout). */
  code: number;
  args: string[];
  durationMs: number;
}

export class SkopeoError extends Error {
  constructor(readonly result: SkopeoResult) {
    super(`skopeo ${result.args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
    this.name = 'SkopeoError';
  }
}

/** Runs skopeo with `args` (global flags first if you pass any). */
export function skopeo(args: readonly string[], opts: SkopeoRunOptions = {}): Promise<SkopeoResult> {
  const useSandbox = opts.sandbox ?? true;
  const s = useSandbox ? skopeoSandbox() : undefined;
  const fullArgs = s ? ['--policy', s.policyFile, '--registries.d', s.registriesD, ...args] : [...args];
  const env = { ...(s ? sandboxEnv(s) : process.env), ...opts.env };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(SKOPEO_BIN, fullArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? -1,
        args: fullArgs,
        durationMs: Date.now() - started,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input);
  });
}

/** `docker://HOST/REPO:TAG` or `docker://HOST/REPO@DIGEST`. */
export function dockerRef(reg: Pick<TestRegistry, 'host'>, repo: string, tagOrDigest?: string): string {
  if (tagOrDigest === undefined) return `docker://${reg.host}/${repo}`;
  return `docker://${reg.host}/${repo}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}`;
}

/** Per-command transport options. When `registry` is given, the others default from it. */
export interface SkopeoRegistryOptions {
  registry?: Pick<TestRegistry, 'mode' | 'certDir' | 'username' | 'password'>;
  /** false → `--tls-verify=false` (also needed for plain-HTTP registries). */
  tlsVerify?: boolean;
  certDir?: string;
  /** `user:pass`; false → none. */
  creds?: string | false;
  /** `--no-creds` (inspect/copy only). */
  noCreds?: boolean;
}

/**
 * Transport flags for one side of a command: prefix '' (inspect, list-tags, delete),
 * 'src-' or 'dest-' (copy).
 */
export function registryFlags(o: SkopeoRegistryOptions, prefix: '' | 'src-' | 'dest-' = ''): string[] {
  const reg = o.registry;
  const tlsVerify = o.tlsVerify ?? (reg ? reg.mode !== 'plain' : undefined);
  const certDir = o.certDir ?? reg?.certDir;
  const creds = o.creds ?? (reg?.username !== undefined && reg.password !== undefined ? `${reg.username}:${reg.password}` : false);
  const flags: string[] = [];
  if (tlsVerify !== undefined) flags.push(`--${prefix}tls-verify=${tlsVerify}`);
  if (certDir !== undefined) flags.push(`--${prefix}cert-dir`, certDir);
  if (o.noCreds) flags.push(`--${prefix}no-creds`);
  else if (creds !== false) flags.push(`--${prefix}creds`, creds);
  return flags;
}

/** Global platform-selection flags (placed before the subcommand). */
export interface SkopeoPlatformOptions {
  overrideOs?: string;
  overrideArch?: string;
  overrideVariant?: string;
}

function platformFlags(o: SkopeoPlatformOptions): string[] {
  const flags: string[] = [];
  if (o.overrideOs !== undefined) flags.push('--override-os', o.overrideOs);
  if (o.overrideArch !== undefined) flags.push('--override-arch', o.overrideArch);
  if (o.overrideVariant !== undefined) flags.push('--override-variant', o.overrideVariant);
  return flags;
}

export interface SkopeoInspectOptions extends SkopeoRegistryOptions, SkopeoPlatformOptions {
  raw?: boolean;
  config?: boolean;
  noTags?: boolean;
  extraArgs?: string[];
  run?: SkopeoRunOptions;
}

/**
 * skiff's inspect output as skopeo 1.9 prints it: without Variant and LayersData, which that
 * version computes but does not print (newer skopeo prints LayersData).
 */
export function comparableInspect(o: Record<string, unknown>): Record<string, unknown> {
  const { Variant: _v, LayersData: _l, ...rest } = o;
  return rest;
}

/**
 * `skopeo inspect` default JSON output. Note (skopeo 1.9): `Digest` is the digest of the
 * top-level manifest (the index for multi-arch images), `Variant` and `LayersData`
 * are absent; newer skopeo versions add them.
 */
export interface SkopeoInspectJson {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Created?: string;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  Layers: string[];
  LayersData?: Array<{ MIMEType: string; Digest: string; Size: number; Annotations: Record<string, string> | null }> | null;
  Env: string[] | null;
}

/** `skopeo inspect --config` output: an OCI image config. */
export interface ImageConfigJson {
  created?: string;
  author?: string;
  architecture: string;
  variant?: string;
  os: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<Record<string, unknown>>;
}

/** Runs skopeo; throws SkopeoError (with its stderr) unless it exits 0. */
export async function skopeoOk(args: readonly string[], opts?: SkopeoRunOptions): Promise<SkopeoResult> {
  const result = await skopeo(args, opts);
  if (result.code !== 0) throw new SkopeoError(result);
  return result;
}

const run = skopeoOk;

/** skopeoOk(), its stdout parsed as JSON. */
export async function skopeoJson<T = Record<string, unknown>>(args: readonly string[], opts?: SkopeoRunOptions): Promise<T> {
  return JSON.parse((await skopeoOk(args, opts)).stdout) as T;
}

/** The digest of the manifest `ref` holds, as `skopeo inspect --raw` reads it; undefined when skopeo cannot read it. */
export async function skopeoManifestDigest(ref: string, flags: readonly string[] = ['--tls-verify=false']): Promise<string | undefined> {
  const r = await skopeo(['inspect', '--raw', ...flags, ref]);
  return r.code === 0 ? sha256Digest(r.stdoutBytes) : undefined;
}

/**
 * `skopeo inspect REF`: parsed JSON; with `raw: true` the exact stdout bytes (manifest,
 * or config with `config: true`); with `config: true` the parsed image config.
 */
export function skopeoInspect(ref: string, opts: SkopeoInspectOptions & { raw: true }): Promise<Buffer>;
export function skopeoInspect(ref: string, opts: SkopeoInspectOptions & { config: true; raw?: false }): Promise<ImageConfigJson>;
export function skopeoInspect(ref: string, opts?: SkopeoInspectOptions & { raw?: false; config?: false }): Promise<SkopeoInspectJson>;
export async function skopeoInspect(ref: string, opts: SkopeoInspectOptions = {}): Promise<Buffer | ImageConfigJson | SkopeoInspectJson> {
  const args = [...platformFlags(opts), 'inspect', ...registryFlags(opts)];
  if (opts.raw) args.push('--raw');
  if (opts.config) args.push('--config');
  if (opts.noTags) args.push('--no-tags');
  args.push(...(opts.extraArgs ?? []), ref);
  const result = await run(args, opts.run);
  if (opts.raw) return result.stdoutBytes;
  return JSON.parse(result.stdout) as ImageConfigJson | SkopeoInspectJson;
}

/** `skopeo list-tags REF` parsed. */
export async function skopeoListTags(
  ref: string,
  opts: SkopeoRegistryOptions & { extraArgs?: string[]; run?: SkopeoRunOptions } = {},
): Promise<{ Repository: string; Tags: string[] }> {
  const { noCreds: _ignored, ...flags } = opts; // list-tags has no --no-creds
  const result = await run(['list-tags', ...registryFlags(flags), ...(opts.extraArgs ?? []), ref], opts.run);
  return JSON.parse(result.stdout) as { Repository: string; Tags: string[] };
}

/** `skopeo copy SRC DEST`; throws on failure. */
export async function skopeoCopy(
  src: string,
  dest: string,
  opts: SkopeoPlatformOptions & {
    src?: SkopeoRegistryOptions;
    dest?: SkopeoRegistryOptions;
    /** e.g. ['--all'], ['--format', 'oci'] */
    extraArgs?: string[];
    run?: SkopeoRunOptions;
  } = {},
): Promise<SkopeoResult> {
  return run(
    [
      ...platformFlags(opts),
      'copy',
      ...(opts.src ? registryFlags(opts.src, 'src-') : []),
      ...(opts.dest ? registryFlags(opts.dest, 'dest-') : []),
      ...(opts.extraArgs ?? []),
      src,
      dest,
    ],
    opts.run,
  );
}
