import { DomainError } from '../errors/domain-error';
import { isDigest } from './digest';
import { MediaType, isIndexMediaType, isSchema1MediaType } from './media-types';

/** An OCI content descriptor, validated: digest syntax checked, size a non-negative integer. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** A single-image manifest (Docker v2s2 or OCI image manifest). */
export interface ImageManifest {
  kind: 'image';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** A multi-image manifest (OCI index or Docker manifest list). */
export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * Docker schema 1 (read-only, for inspect). Layers and history are in the manifest's order
 * (newest first); `history` holds the parsed v1Compatibility objects.
 */
export interface Schema1Manifest {
  kind: 'schema1';
  mediaType: string;
  name: string;
  tag: string;
  architecture: string;
  fsLayers: string[];
  history: Record<string, unknown>[];
}

export type Manifest = ImageManifest | IndexManifest | Schema1Manifest;

export class ManifestInvalidError extends DomainError {
  constructor(message: string) {
    super('MANIFEST_INVALID', message);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new ManifestInvalidError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(doc)) throw new ManifestInvalidError(`${what} is not a JSON object`);
  return doc;
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new ManifestInvalidError(`${where} must be a map of strings`);
  }
  return v as Record<string, string>;
}

function parsePlatform(v: unknown, where: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new ManifestInvalidError(`${where} must be an object`);
  const os = v['os'];
  const architecture = v['architecture'];
  if (typeof os !== 'string' || typeof architecture !== 'string') {
    throw new ManifestInvalidError(`${where} must have string "os" and "architecture"`);
  }
  const p: Platform = { os, architecture };
  if (typeof v['variant'] === 'string' && v['variant'] !== '') p.variant = v['variant'];
  if (typeof v['os.version'] === 'string' && v['os.version'] !== '') p['os.version'] = v['os.version'];
  if (Array.isArray(v['os.features'])) p['os.features'] = v['os.features'].filter((x): x is string => typeof x === 'string');
  return p;
}

/** Validates one descriptor; a bad digest or size is refused before it can reach a URL or a path. */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isRecord(v)) throw new ManifestInvalidError(`${where} must be an object`);
  const { mediaType, digest, size } = v;
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw new ManifestInvalidError(`${where} has an invalid digest ${JSON.stringify(digest)}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestInvalidError(`${where} has an invalid size ${JSON.stringify(size)}`);
  }
  if (mediaType !== undefined && typeof mediaType !== 'string') {
    throw new ManifestInvalidError(`${where} has an invalid mediaType`);
  }
  const d: Descriptor = { mediaType: mediaType ?? '', digest, size };
  if (Array.isArray(v['urls'])) d.urls = v['urls'].filter((u): u is string => typeof u === 'string');
  const annotations = stringMap(v['annotations'], `${where}.annotations`);
  if (annotations) d.annotations = annotations;
  const platform = parsePlatform(v['platform'], `${where}.platform`);
  if (platform) d.platform = platform;
  return d;
}

/**
 * Determines a manifest's media type from its content, as containers/image's GuessMIMEType
 * does; used when the transport gives no usable type (missing, text/plain, application/json).
 */
export function guessManifestMediaType(bytes: Uint8Array): string | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parseJson(bytes, 'manifest');
  } catch {
    return undefined;
  }
  const mt = doc['mediaType'];
  if (mt === MediaType.dockerV2S2 || mt === MediaType.dockerManifestList || mt === MediaType.ociManifest || mt === MediaType.ociIndex) {
    return mt;
  }
  if (doc['schemaVersion'] === 1) {
    return doc['signatures'] !== undefined ? MediaType.dockerSchema1Signed : MediaType.dockerSchema1;
  }
  if (doc['schemaVersion'] !== 2) return undefined;
  const config = doc['config'];
  if (isRecord(config)) {
    if (config['mediaType'] === MediaType.dockerConfig) return MediaType.dockerV2S2;
    return MediaType.ociManifest;
  }
  const manifests = doc['manifests'];
  if (Array.isArray(manifests)) {
    const first = manifests[0];
    if (isRecord(first) && (first['mediaType'] === MediaType.dockerV2S2 || first['mediaType'] === MediaType.dockerSchema1Signed)) {
      return MediaType.dockerManifestList;
    }
    return MediaType.ociIndex;
  }
  return MediaType.dockerV2S2;
}

/** Strips parameters and decides whether a transport-reported type must be guessed instead. */
export function normalizeManifestMediaType(reported: string | undefined, bytes: Uint8Array): string {
  const simple = (reported ?? '').split(';')[0]!.trim().toLowerCase();
  if (simple === '' || simple === 'text/plain' || simple === 'application/json' || simple === 'application/octet-stream') {
    const guessed = guessManifestMediaType(bytes);
    if (!guessed) throw new ManifestInvalidError('cannot determine the manifest type');
    return guessed;
  }
  return simple;
}

/**
 * Parses and validates a manifest of any supported type. The declared `mediaType` inside the
 * document, when present, must agree with the type it was served as.
 */
export function parseManifest(bytes: Uint8Array, mediaType: string): Manifest {
  const doc = parseJson(bytes, 'manifest');
  const inner = doc['mediaType'];
  if (inner !== undefined && inner !== mediaType && !isSchema1MediaType(mediaType)) {
    throw new ManifestInvalidError(`manifest declares mediaType ${JSON.stringify(inner)} but was served as ${mediaType}`);
  }
  if (isSchema1MediaType(mediaType)) return parseSchema1(doc, mediaType);
  if (doc['schemaVersion'] !== 2) throw new ManifestInvalidError(`unsupported schemaVersion ${JSON.stringify(doc['schemaVersion'])}`);
  const annotations = stringMap(doc['annotations'], 'manifest.annotations');
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc['manifests'])) throw new ManifestInvalidError('index has no "manifests" list');
    const manifests = doc['manifests'].map((m, i) => parseDescriptor(m, `manifests[${i}]`));
    return { kind: 'index', mediaType, manifests, ...(annotations ? { annotations } : {}) };
  }
  if (mediaType === MediaType.dockerV2S2 || mediaType === MediaType.ociManifest) {
    const config = parseDescriptor(doc['config'], 'config');
    if (!Array.isArray(doc['layers'])) throw new ManifestInvalidError('manifest has no "layers" list');
    const layers = doc['layers'].map((l, i) => parseDescriptor(l, `layers[${i}]`));
    return { kind: 'image', mediaType, config, layers, ...(annotations ? { annotations } : {}) };
  }
  throw new ManifestInvalidError(`unsupported manifest media type ${mediaType}`);
}

function parseSchema1(doc: Record<string, unknown>, mediaType: string): Schema1Manifest {
  if (doc['schemaVersion'] !== 1) throw new ManifestInvalidError('schema1 manifest must have schemaVersion 1');
  const fsLayers = doc['fsLayers'];
  const history = doc['history'];
  if (!Array.isArray(fsLayers) || !Array.isArray(history) || fsLayers.length !== history.length || fsLayers.length === 0) {
    throw new ManifestInvalidError('schema1 manifest must have matching, non-empty fsLayers and history');
  }
  const blobSums = fsLayers.map((l, i) => {
    const sum = isRecord(l) ? l['blobSum'] : undefined;
    if (typeof sum !== 'string' || !isDigest(sum)) throw new ManifestInvalidError(`fsLayers[${i}] has an invalid blobSum`);
    return sum;
  });
  const parsedHistory = history.map((h, i) => {
    const compat = isRecord(h) ? h['v1Compatibility'] : undefined;
    if (typeof compat !== 'string') throw new ManifestInvalidError(`history[${i}] has no v1Compatibility`);
    return parseJson(Buffer.from(compat), `history[${i}].v1Compatibility`);
  });
  return {
    kind: 'schema1',
    mediaType,
    name: typeof doc['name'] === 'string' ? doc['name'] : '',
    tag: typeof doc['tag'] === 'string' ? doc['tag'] : '',
    architecture: typeof doc['architecture'] === 'string' ? doc['architecture'] : '',
    fsLayers: blobSums,
    history: parsedHistory,
  };
}

/** The platform this process runs on, in OCI terms. */
export function systemPlatform(): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' };
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: archMap[process.arch] ?? process.arch };
}

export interface PlatformChoice {
  os?: string;
  architecture?: string;
  variant?: string;
}

const VARIANT_COMPATIBILITY: Record<string, string[]> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  arm64: ['v8'],
};

/**
 * The platforms acceptable for a choice, most preferred first, following containers/image:
 * an explicit variant walks down its compatibility list, then accepts any variant; without a
 * variant any instance of the os/architecture matches (the first in the index wins).
 */
export function wantedPlatforms(choice: PlatformChoice = {}, system: Platform = systemPlatform()): Platform[] {
  const architecture = choice.architecture || system.architecture;
  const os = choice.os || system.os;
  const wantedVariant = choice.variant || (choice.architecture ? '' : system.variant ?? '');
  let variants: string[];
  if (wantedVariant) {
    const order = VARIANT_COMPATIBILITY[architecture];
    const i = order ? order.indexOf(wantedVariant) : -1;
    variants = i >= 0 ? order!.slice(i) : [wantedVariant];
    variants.push('');
  } else {
    variants = ['', ...(VARIANT_COMPATIBILITY[architecture] ?? [])];
  }
  return variants.map((variant) => ({ os, architecture, ...(variant ? { variant } : {}) }));
}

export class PlatformNotFoundError extends DomainError {
  constructor(message: string) {
    super('PLATFORM_NOT_FOUND', message);
  }
}

/** Picks the instance of an index for a platform choice, as skopeo does. */
export function chooseInstance(index: IndexManifest, choice: PlatformChoice = {}, system: Platform = systemPlatform()): Descriptor {
  const wanted = wantedPlatforms(choice, system);
  for (const w of wanted) {
    for (const d of index.manifests) {
      const p = d.platform;
      if (!p || p.architecture !== w.architecture || p.os !== w.os) continue;
      if (!w.variant || (p.variant ?? '') === w.variant) return d;
    }
  }
  const first = wanted[0]!;
  throw new PlatformNotFoundError(
    `no image found in manifest list for architecture ${first.architecture}, variant ${JSON.stringify(choice.variant ?? '')}, OS ${first.os}`,
  );
}
