/**
 * Building and pushing test images over the registry v2 API (real HTTP, real auth flows).
 *
 * Contract: given the same inputs, layers, configs and manifests are byte-identical
 * (fixed tar mtimes, sorted entries, gzip with a fixed header and stored blocks unless
 * `compression: 'gzip'`), so digests are stable across runs and machines. Blobs are
 * pushed monolithically (POST to start, PUT with `?digest=`) and skipped when the
 * registry already has them; manifests are PUT by tag (or by digest when `tag` is null).
 * Failures throw `RegistryHttpError` carrying the response.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clientFor, expectStatus } from './registry-client';
import type { RegistryEndpoint } from './registry';
import { header, type HttpResponse } from './http';
import { gzipStored, makeTar, type TarEntry } from './tar';

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** 'v2s2' = Docker schema 2 (manifest / manifest list); 'oci' = OCI manifest / index. */
export type ImageFormat = 'v2s2' | 'oci';

/** Default `created` (and tar mtime) for deterministic content. */
export const DEFAULT_CREATED = '2024-01-01T00:00:00Z';
const DEFAULT_MTIME = Date.parse(DEFAULT_CREATED) / 1000;

/** The hex sha256 of `data` (a principals file's tokenSha256, say). */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>`: the OCI digest of `data`. */
export function sha256Digest(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`;
}

/** `size` deterministic pseudo-random bytes for `seed` (incompressible layer content). */
export function pseudoRandomBytes(size: number, seed = 'skiff'): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; i++) {
    off += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  }
  return out;
}

export interface Layer {
  /** The compressed blob as pushed. */
  bytes: Buffer;
  /** Digest of `bytes`. */
  digest: string;
  /** Digest of the uncompressed tar (config `rootfs.diff_ids`). */
  diffId: string;
  /** `bytes.length`. */
  size: number;
  uncompressedSize: number;
}

export interface MakeLayerOptions {
  /** Seconds since the epoch for every entry; default 2024-01-01T00:00:00Z. */
  mtime?: number;
  /** 'stored' (default): byte-stable gzip without compression; 'gzip': zlib level 9. */
  compression?: 'stored' | 'gzip';
}

/**
 * A gzip'd tar layer holding `files` (path → content). Paths ending in '/' are
 * directories; parent directories are added implicitly; entries are sorted by path.
 */
export function makeLayer(files: Record<string, string | Buffer>, opts: MakeLayerOptions = {}): Layer {
  const mtime = opts.mtime ?? DEFAULT_MTIME;
  const entries = new Map<string, TarEntry>();
  for (const [rawPath, content] of Object.entries(files)) {
    const isDir = rawPath.endsWith('/');
    const path = rawPath.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
    if (path === '') throw new Error(`makeLayer: bad path ${JSON.stringify(rawPath)}`);
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { path: dir, type: 'dir', mtime });
    }
    entries.set(
      path,
      isDir ? { path, type: 'dir', mtime } : { path, type: 'file', mtime, content: typeof content === 'string' ? Buffer.from(content) : content },
    );
  }
  const sorted = [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const tar = makeTar(sorted);
  const bytes = opts.compression === 'gzip' ? gzipSync(tar, { level: 9 }) : gzipStored(tar);
  return { bytes, digest: sha256Digest(bytes), diffId: sha256Digest(tar), size: bytes.length, uncompressedSize: tar.length };
}

/** The container-config part of an image config (Docker capitalisation). */
export interface ContainerConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  Labels?: Record<string, string>;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  StopSignal?: string;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface PushImageOptions {
  layers: Layer[];
  config?: ContainerConfig;
  os: string;
  architecture: string;
  variant?: string;
  /** RFC 3339; default DEFAULT_CREATED. */
  created?: string;
  author?: string;
  dockerVersion?: string;
  /** Default: one `ADD` entry per layer plus an empty-layer `CMD`/`ENTRYPOINT` entry when set. */
  history?: HistoryEntry[];
  format: ImageFormat;
  /** OCI manifests only: manifest annotations. */
  annotations?: Record<string, string>;
}

export interface PushedImage {
  repo: string;
  tag: string | null;
  /** Manifest digest. */
  digest: string;
  /** Manifest byte length. */
  size: number;
  mediaType: string;
  manifestBytes: Buffer;
  configDigest: string;
  configBytes: Buffer;
  platform: Platform;
  layers: Layer[];
}

export interface PushedManifest {
  repo: string;
  tag: string | null;
  digest: string;
  size: number;
  mediaType: string;
  manifestBytes: Buffer;
}

/** A manifest as referenced from an index / manifest list. */
export interface IndexInstance {
  digest: string;
  size: number;
  mediaType: string;
  platform: Platform;
  annotations?: Record<string, string>;
}

/**
 * Blob pushes in flight, by registry, repository and digest. The CNCF registry re-links a
 * blob each time an upload of it finishes, and a manifest PUT that stats the blob while
 * a second upload rewrites its link fails with DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN;
 * so concurrent pushes of the same blob to the same repository share one upload.
 */
const blobPushes = new Map<string, Promise<string>>();

/** Pushes `bytes` as a blob of `repo` unless present; returns its digest. */
export function pushBlob(reg: RegistryEndpoint, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const key = `${reg.url} ${repo} ${digest}`;
  const running = blobPushes.get(key);
  if (running !== undefined) return running;
  const push = uploadBlob(reg, repo, bytes, digest).finally(() => blobPushes.delete(key));
  blobPushes.set(key, push);
  return push;
}

async function uploadBlob(reg: RegistryEndpoint, repo: string, bytes: Buffer, digest: string): Promise<string> {
  const client = clientFor(reg);
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return digest;
  const start = expectStatus(await client.request('POST', `/v2/${repo}/blobs/uploads/`), [202], `start upload to ${repo}`);
  const location = header(start, 'location');
  if (location === undefined) throw new Error(`upload to ${repo}: 202 without Location`);
  const target = new URL(location, reg.url);
  target.searchParams.set('digest', digest);
  expectStatus(
    await client.request('PUT', target.href, { body: bytes, headers: { 'content-type': 'application/octet-stream' } }),
    [201],
    `finish upload of ${digest} to ${repo}`,
  );
  return digest;
}

/** PUTs a manifest under `reference` (tag or digest); checks the registry's digest. */
export async function putManifest(reg: RegistryEndpoint, repo: string, reference: string, manifestBytes: Buffer, mediaType: string): Promise<string> {
  const digest = sha256Digest(manifestBytes);
  const res = expectStatus(
    await clientFor(reg).request('PUT', `/v2/${repo}/manifests/${reference}`, { body: manifestBytes, headers: { 'content-type': mediaType } }),
    [201],
    `put manifest ${repo}:${reference}`,
  );
  const echoed = header(res, 'docker-content-digest');
  if (echoed !== undefined && echoed !== digest) throw new Error(`registry computed ${echoed} for manifest ${digest}`);
  return digest;
}

/** Fetches a manifest (any of the four media types accepted). */
export async function getManifest(reg: RegistryEndpoint, repo: string, reference: string): Promise<HttpResponse> {
  return clientFor(reg).request('GET', `/v2/${repo}/manifests/${reference}`, {
    headers: { accept: Object.values(MediaTypes).filter((m) => /manifest|index/.test(m)).join(', ') },
  });
}

function buildConfig(opts: PushImageOptions): Buffer {
  const created = opts.created ?? DEFAULT_CREATED;
  const history: HistoryEntry[] =
    opts.history ??
    [
      ...opts.layers.map((l) => ({ created, created_by: `/bin/sh -c #(nop) ADD file:${l.diffId.slice(7)} in / ` })),
      ...(opts.config?.Entrypoint ? [{ created, created_by: `/bin/sh -c #(nop)  ENTRYPOINT ${JSON.stringify(opts.config.Entrypoint)}`, empty_layer: true }] : []),
      ...(opts.config?.Cmd ? [{ created, created_by: `/bin/sh -c #(nop)  CMD ${JSON.stringify(opts.config.Cmd)}`, empty_layer: true }] : []),
    ];
  const config: Record<string, unknown> = { architecture: opts.architecture };
  if (opts.author !== undefined) config.author = opts.author;
  config.config = { ...opts.config };
  config.created = created;
  if (opts.dockerVersion !== undefined) config.docker_version = opts.dockerVersion;
  config.history = history;
  config.os = opts.os;
  config.rootfs = { type: 'layers', diff_ids: opts.layers.map((l) => l.diffId) };
  if (opts.variant !== undefined) config.variant = opts.variant;
  return Buffer.from(JSON.stringify(config));
}

function platformJson(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  if (p['os.features'] !== undefined) out['os.features'] = p['os.features'];
  if (p.variant !== undefined) out.variant = p.variant;
  return out;
}

/** Pushes layers, config and manifest; `tag: null` pushes by digest only. */
export async function pushImage(reg: RegistryEndpoint, repo: string, tag: string | null, opts: PushImageOptions): Promise<PushedImage> {
  const oci = opts.format === 'oci';
  const configBytes = buildConfig(opts);
  const [configDigest] = await Promise.all([pushBlob(reg, repo, configBytes), ...opts.layers.map((l) => pushBlob(reg, repo, l.bytes))]);
  const mediaType = oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest;
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig, size: configBytes.length, digest: configDigest },
    layers: opts.layers.map((l) => ({ mediaType: oci ? MediaTypes.ociLayerGzip : MediaTypes.dockerLayerGzip, size: l.size, digest: l.digest })),
  };
  if (oci && opts.annotations !== undefined) manifest.annotations = opts.annotations;
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = await putManifest(reg, repo, tag ?? sha256Digest(manifestBytes), manifestBytes, mediaType);
  return {
    repo,
    tag,
    digest,
    size: manifestBytes.length,
    mediaType,
    manifestBytes,
    configDigest,
    configBytes,
    platform: platformJson(opts),
    layers: opts.layers,
  };
}

/**
 * Pushes an OCI index ('oci') or Docker manifest list ('v2s2') over `instances`, which
 * must already be in `repo` (distribution checks). `tag: null` pushes by digest only.
 */
export async function pushIndex(
  reg: RegistryEndpoint,
  repo: string,
  tag: string | null,
  instances: readonly IndexInstance[],
  format: ImageFormat,
  annotations?: Record<string, string>,
): Promise<PushedManifest> {
  const mediaType = format === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerManifestList;
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    manifests: instances.map((i) => ({
      mediaType: i.mediaType,
      size: i.size,
      digest: i.digest,
      platform: platformJson(i.platform),
      ...(i.annotations !== undefined ? { annotations: i.annotations } : {}),
    })),
  };
  if (format === 'oci' && annotations !== undefined) index.annotations = annotations;
  const manifestBytes = Buffer.from(JSON.stringify(index, null, 3));
  const digest = await putManifest(reg, repo, tag ?? sha256Digest(manifestBytes), manifestBytes, mediaType);
  return { repo, tag, digest, size: manifestBytes.length, mediaType, manifestBytes };
}

export interface PushTagsOptions {
  /** Parallel PUTs for `via: 'api'`; default 8. */
  concurrency?: number;
  /**
   * 'api' (default): PUT the manifest once per tag over the v2 API.
   * 'storage': write the tag links straight into the registry's filesystem storage
   * (the layout distribution writes itself; no HTTP, no manifest re-verification: 2–3x faster on this disk-bound machine). Needs a local
   * `TestRegistry` (its `storageDir`) and the manifest already pushed to `repo`.
   */
  via?: 'api' | 'storage';
}

/** Tags an already-pushed manifest with every tag in `tags`. */
export async function pushTags(
  reg: RegistryEndpoint & { storageDir?: string },
  repo: string,
  manifest: { manifestBytes: Buffer; mediaType: string },
  tags: readonly string[],
  opts: PushTagsOptions = {},
): Promise<void> {
  if (opts.via === 'storage') {
    if (reg.storageDir === undefined) throw new Error("pushTags via 'storage' needs a registry with storageDir");
    const digest = sha256Digest(manifest.manifestBytes);
    const hex = digest.slice('sha256:'.length);
    const manifests = join(reg.storageDir, 'docker/registry/v2/repositories', repo, '_manifests');
    await access(join(manifests, 'revisions/sha256', hex, 'link')).catch(() => {
      throw new Error(`pushTags via 'storage': ${repo}@${digest} is not in the registry; push it first`);
    });
    await Promise.all(
      tags.map(async (tag) => {
        const tagDir = join(manifests, 'tags', tag);
        await Promise.all([
          mkdir(join(tagDir, 'index/sha256', hex), { recursive: true }).then(() => writeFile(join(tagDir, 'index/sha256', hex, 'link'), digest)),
          mkdir(join(tagDir, 'current'), { recursive: true }).then(() => writeFile(join(tagDir, 'current/link'), digest)),
        ]);
      }),
    );
    return;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tags.length) {
      const tag = tags[next++] as string;
      await putManifest(reg, repo, tag, manifest.manifestBytes, manifest.mediaType);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, tags.length) }, worker));
}

export interface PushMultiArchOptions {
  format: ImageFormat;
  platforms: readonly Platform[];
  /** Files of each instance's single layer; default `{ 'etc/platform': 'os/arch[/variant]\n' }`. */
  files?: (p: Platform) => Record<string, string | Buffer>;
  config?: ContainerConfig;
}

/** Pushes one single-layer image per platform (by digest) and an index/list tagged `tag`. */
export async function pushMultiArch(
  reg: RegistryEndpoint,
  repo: string,
  tag: string | null,
  opts: PushMultiArchOptions,
): Promise<{ index: PushedManifest; images: PushedImage[] }> {
  const images = await Promise.all(
    opts.platforms.map((p) => {
      const name = [p.os, p.architecture, p.variant].filter((x) => x !== undefined).join('/');
      const files = opts.files?.(p) ?? { 'etc/platform': `${name}\n` };
      return pushImage(reg, repo, null, { ...p, layers: [makeLayer(files)], config: opts.config, format: opts.format });
    }),
  );
  const index = await pushIndex(reg, repo, tag, images, opts.format);
  return { index, images };
}
