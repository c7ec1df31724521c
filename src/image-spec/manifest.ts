import { DomainError } from '../errors/domain-error';
import { isDigest } from './digest';
import { goFieldValues } from './go-json';
import { MediaType, isIndexMediaType, isSchema1MediaType } from './media-types';

/** An OCI content descriptor, validated: digest syntax checked, size a non-negative integer. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  /** OCI 1.1: the type of an artifact this descriptor points at (referrers lists, indexes). */
  artifactType?: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** A single-image manifest (Docker v2s2 or OCI image manifest). */
/**
 * Manifests, configs, index.json and docker-archive manifest.json files are read whole, never
 * beyond this many bytes (containers/image's maxManifestBodySize and maxConfigBodySize).
 */
export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;

export interface ImageManifest {
  kind: 'image';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  /** OCI 1.1 `artifactType` (an artifact, not a runnable image), when the manifest declares one. */
  artifactType?: string;
  /** OCI 1.1 `subject`: the manifest this one refers to (a signature, an SBOM). */
  subject?: Descriptor;
}

/** A multi-image manifest (OCI index or Docker manifest list). */
export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
  subject?: Descriptor;
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
  // As Go's json.Unmarshal into containers/image's struct: an absent (or null) field is "".
  const os = v['os'] ?? '';
  const architecture = v['architecture'] ?? '';
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
  const artifactType = v['artifactType'];
  if (typeof artifactType === 'string' && artifactType !== '') d.artifactType = artifactType;
  return d;
}

/** OCI 1.1 `artifactType` and `subject` of a manifest document, when present (validated like any descriptor). */
function referrerFields(doc: Record<string, unknown>): { artifactType?: string; subject?: Descriptor } {
  const out: { artifactType?: string; subject?: Descriptor } = {};
  const artifactType = doc['artifactType'];
  if (artifactType !== undefined && artifactType !== null && typeof artifactType !== 'string') throw new ManifestInvalidError('manifest.artifactType must be a string');
  if (typeof artifactType === 'string' && artifactType !== '') out.artifactType = artifactType;
  if (doc['subject'] !== undefined && doc['subject'] !== null) out.subject = parseDescriptor(doc['subject'], 'subject');
  return out;
}

/** A JSON value json.Unmarshal refuses for the Go type it is decoded into. */
class GoTypeError extends Error {}

/** The value json.Unmarshal leaves in a `string` field holding `prev`: the last non-null match, else `prev`. */
function goStringField(obj: Record<string, unknown>, name: string, prev = ''): string {
  let out = prev;
  for (const v of goFieldValues(obj, name)) {
    if (v === null) continue;
    if (typeof v !== 'string') throw new GoTypeError();
    out = v;
  }
  return out;
}

/** The value json.Unmarshal leaves in an `int` field: the last non-null match; 0 without one. */
function goIntField(obj: Record<string, unknown>, name: string): number {
  let out = 0;
  for (const v of goFieldValues(obj, name)) {
    if (v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new GoTypeError();
    out = v;
  }
  return out;
}

/** An `interface{}`, pointer or slice field: the last match (null included); undefined without one. */
function goLastField(obj: Record<string, unknown>, name: string): unknown {
  return goFieldValues(obj, name).at(-1);
}

/** Type checks of json.Unmarshal into imgspecv1.Descriptor (image-spec 1.1.0-rc2); null is always accepted. */
function goCheckDescriptor(v: unknown): void {
  if (v === null) return;
  if (!isRecord(v)) throw new GoTypeError();
  goStringField(v, 'mediaType');
  goStringField(v, 'digest');
  goIntField(v, 'size');
  for (const urls of goFieldValues(v, 'urls')) {
    if (urls !== null && (!Array.isArray(urls) || urls.some((u) => u !== null && typeof u !== 'string'))) throw new GoTypeError();
  }
  for (const a of goFieldValues(v, 'annotations')) {
    if (a !== null && (!isRecord(a) || Object.values(a).some((x) => x !== null && typeof x !== 'string'))) throw new GoTypeError();
  }
  for (const data of goFieldValues(v, 'data')) {
    // []byte is standard base64 with padding; Go's decoder skips \r and \n.
    if (data !== null && (typeof data !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(data.replace(/[\r\n]/g, '')))) {
      throw new GoTypeError();
    }
  }
  for (const p of goFieldValues(v, 'platform')) {
    if (p === null) continue;
    if (!isRecord(p)) throw new GoTypeError();
    for (const f of ['architecture', 'os', 'os.version', 'variant']) goStringField(p, f);
    for (const features of goFieldValues(p, 'os.features')) {
      if (features !== null && (!Array.isArray(features) || features.some((x) => x !== null && typeof x !== 'string'))) throw new GoTypeError();
    }
  }
}

/**
 * Determines a manifest's media type from its content exactly as containers/image's
 * GuessMIMEType does (its decisions, not a better guess): a recognised top-level `mediaType`
 * wins; schemaVersion 1 is schema 1, signed when `signatures` is non-null; schemaVersion 2 is
 * decided by `config.mediaType` (OCI or Docker config), then by a non-empty `manifests` (an OCI
 * index, even for Docker entries), else an OCI manifest. Keys match as json.Unmarshal matches
 * them, and a value of the wrong JSON type makes the guess fail (undefined), as Go's decoding
 * error does. Used when the transport gives no usable type (missing, text/plain, application/json).
 */
export function guessManifestMediaType(bytes: Uint8Array): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(doc)) return undefined;
  try {
    const mediaType = goStringField(doc, 'mediaType');
    const schemaVersion = goIntField(doc, 'schemaVersion');
    const signatures = goLastField(doc, 'signatures');
    if (mediaType === MediaType.dockerV2S2 || mediaType === MediaType.dockerManifestList || mediaType === MediaType.ociManifest || mediaType === MediaType.ociIndex) {
      return mediaType;
    }
    if (schemaVersion === 1) return signatures !== undefined && signatures !== null ? MediaType.dockerSchema1Signed : MediaType.dockerSchema1;
    if (schemaVersion !== 2) return undefined;
    // A struct field met twice is merged: the config's mediaType is the last non-null one.
    let configMediaType = '';
    for (const config of goFieldValues(doc, 'config')) {
      if (config === null) continue;
      if (!isRecord(config)) throw new GoTypeError();
      configMediaType = goStringField(config, 'mediaType', configMediaType);
    }
    if (configMediaType === MediaType.ociConfig) return MediaType.ociManifest;
    if (configMediaType === MediaType.dockerConfig) return MediaType.dockerV2S2;
    let manifestCount = 0;
    for (const manifests of goFieldValues(doc, 'manifests')) {
      if (manifests === null) {
        manifestCount = 0;
        continue;
      }
      if (!Array.isArray(manifests)) throw new GoTypeError();
      manifests.forEach(goCheckDescriptor);
      manifestCount = manifests.length;
    }
    if (manifestCount !== 0) {
      // containers/image returns the config media type here when there is one (its FIXME).
      return configMediaType === '' ? MediaType.ociIndex : configMediaType;
    }
    return MediaType.ociManifest;
  } catch (e) {
    if (e instanceof GoTypeError) return undefined;
    throw e;
  }
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

/** The "essential" fields of every manifest kind, as containers/image's ValidateUnambiguousManifestFormat knows them. */
const ESSENTIAL_MANIFEST_FIELDS = ['config', 'fsLayers', 'history', 'layers', 'manifests'] as const;
type EssentialManifestField = (typeof ESSENTIAL_MANIFEST_FIELDS)[number];

/**
 * containers/image's ValidateUnambiguousManifestFormat: refuses a document that carries (non-null,
 * keys matched as json.Unmarshal matches them) an essential field of another manifest kind, so
 * that no document can be read as two different kinds by two readers.
 */
function validateUnambiguousManifestFormat(doc: Record<string, unknown>, mediaType: string, allowed: readonly EssentialManifestField[]): void {
  const unexpected = ESSENTIAL_MANIFEST_FIELDS.filter((f) => {
    const v = goFieldValues(doc, f).at(-1);
    return v !== undefined && v !== null && !allowed.includes(f);
  });
  if (unexpected.length > 0) {
    throw new ManifestInvalidError(`rejecting ambiguous manifest, unexpected fields ${JSON.stringify(unexpected)} in supposedly ${mediaType}`);
  }
}

/**
 * Parses and validates a manifest of any supported type. The declared `mediaType` inside the
 * document, when present, must agree with the type it was served as; a document that also
 * carries another kind's essential fields is refused (validateUnambiguousManifestFormat),
 * after the version checks.
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
    validateUnambiguousManifestFormat(doc, mediaType, ['manifests']);
    if (!Array.isArray(doc['manifests'])) throw new ManifestInvalidError('index has no "manifests" list');
    const manifests = doc['manifests'].map((m, i) => parseDescriptor(m, `manifests[${i}]`));
    return { kind: 'index', mediaType, manifests, ...(annotations ? { annotations } : {}), ...referrerFields(doc) };
  }
  if (mediaType === MediaType.dockerV2S2 || mediaType === MediaType.ociManifest) {
    validateUnambiguousManifestFormat(doc, mediaType, ['config', 'layers']);
    const config = parseDescriptor(doc['config'], 'config');
    if (!Array.isArray(doc['layers'])) throw new ManifestInvalidError('manifest has no "layers" list');
    const layers = doc['layers'].map((l, i) => parseDescriptor(l, `layers[${i}]`));
    return { kind: 'image', mediaType, config, layers, ...(annotations ? { annotations } : {}), ...referrerFields(doc) };
  }
  throw new ManifestInvalidError(`unsupported manifest media type ${mediaType}`);
}

function parseSchema1(doc: Record<string, unknown>, mediaType: string): Schema1Manifest {
  if (doc['schemaVersion'] !== 1) throw new ManifestInvalidError('schema1 manifest must have schemaVersion 1');
  validateUnambiguousManifestFormat(doc, mediaType, ['fsLayers', 'history']);
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

/** What an os, architecture or variant a caller names may look like (before it is matched). */
export const PLATFORM_WORD = /^[a-z0-9._-]{1,64}$/;

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
 * The platforms acceptable for a choice, most preferred first, as containers/image's
 * WantedPlatforms: os and architecture default to the system's; the system's variant is used
 * only when the architecture is not chosen; a wanted variant walks down its architecture's
 * compatibility list (or stands alone when it is not on it), then the empty variant; without
 * a wanted variant, the empty variant comes first, then the whole compatibility list.
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

/**
 * Picks the instance of an index for a platform choice, as containers/image's ChooseInstance:
 * for each wanted platform in order, the first entry whose os, architecture and variant are
 * all equal to it (MatchesPlatform; a missing variant is ""); entries without a platform never
 * match. An OCI index then falls back to its first entry without a platform (OCI1Index); a
 * Docker manifest list does not. Throws PlatformNotFoundError with skopeo's message, naming the
 * first wanted platform.
 */
export function chooseInstance(index: IndexManifest, choice: PlatformChoice = {}, system: Platform = systemPlatform()): Descriptor {
  const wanted = wantedPlatforms(choice, system);
  for (const w of wanted) {
    for (const d of index.manifests) {
      const p = d.platform;
      if (p && p.architecture === w.architecture && p.os === w.os && (p.variant ?? '') === (w.variant ?? '')) return d;
    }
  }
  const isOciIndex = index.mediaType === MediaType.ociIndex;
  if (isOciIndex) {
    const platformless = index.manifests.find((d) => !d.platform);
    if (platformless) return platformless;
  }
  const first = wanted[0]!;
  throw new PlatformNotFoundError(
    `no image found in ${isOciIndex ? 'image index' : 'manifest list'} for architecture ${first.architecture}, variant ${JSON.stringify(first.variant ?? '')}, OS ${first.os}`,
  );
}
