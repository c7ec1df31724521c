import { isDigest } from '../../image-spec/digest';
import { goJson } from '../../image-spec/go-json';
import { MediaType } from '../../image-spec/media-types';
import { sortedMap } from '../../image-spec/oci-config';
import { LayoutInvalidError } from '../../storage/storage-errors';

/**
 * An OCI layout's index.json, read and written as containers/image 5.23 (skopeo 1.9) does:
 * decoded into imgspecv1.Index (image-spec 1.1.0-rc2) and marshalled again with Go's field
 * order and omitempty rules, so unknown fields are dropped and the bytes equal skopeo's.
 */

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const OCI_LAYOUT_FILE_CONTENT = '{"imageLayoutVersion": "1.0.0"}';

export interface IndexPlatform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/** One entry of index.json (an imgspecv1.Descriptor). */
export interface IndexEntry {
  mediaType?: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** base64, kept as given. */
  data?: string;
  platform?: IndexPlatform;
}

export interface OciIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: IndexEntry[];
  annotations?: Record<string, string>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new LayoutInvalidError(`${where} must be a map of strings`);
  return v as Record<string, string>;
}

function optString(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new LayoutInvalidError(`${where} must be a string`);
  return v;
}

function stringList(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new LayoutInvalidError(`${where} must be a list of strings`);
  return v as string[];
}

function parsePlatform(v: unknown, where: string): IndexPlatform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new LayoutInvalidError(`${where} must be an object`);
  const p: IndexPlatform = { architecture: optString(v['architecture'], `${where}.architecture`) ?? '', os: optString(v['os'], `${where}.os`) ?? '' };
  const osVersion = optString(v['os.version'], `${where}.os.version`);
  if (osVersion) p['os.version'] = osVersion;
  const features = stringList(v['os.features'], `${where}.os.features`);
  if (features?.length) p['os.features'] = features;
  const variant = optString(v['variant'], `${where}.variant`);
  if (variant) p.variant = variant;
  return p;
}

function parseEntry(v: unknown, where: string): IndexEntry {
  if (!isRecord(v)) throw new LayoutInvalidError(`${where} must be an object`);
  const digest = v['digest'];
  if (typeof digest !== 'string' || !isDigest(digest)) throw new LayoutInvalidError(`${where} has an invalid digest ${JSON.stringify(digest)}`);
  const size = v['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new LayoutInvalidError(`${where} has an invalid size ${JSON.stringify(size)}`);
  const e: IndexEntry = { digest, size };
  const mediaType = optString(v['mediaType'], `${where}.mediaType`);
  if (mediaType) e.mediaType = mediaType;
  const urls = stringList(v['urls'], `${where}.urls`);
  if (urls?.length) e.urls = urls;
  const annotations = stringMap(v['annotations'], `${where}.annotations`);
  if (annotations && Object.keys(annotations).length) e.annotations = { ...annotations };
  const data = optString(v['data'], `${where}.data`);
  if (data) e.data = data;
  const platform = parsePlatform(v['platform'], `${where}.platform`);
  if (platform) e.platform = platform;
  return e;
}

/** Parses index.json; anything that is not an index of valid descriptors is LAYOUT_INVALID. */
export function parseOciIndex(bytes: Uint8Array, what = 'index.json'): OciIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new LayoutInvalidError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(doc)) throw new LayoutInvalidError(`${what} is not a JSON object`);
  const schemaVersion = doc['schemaVersion'];
  if (schemaVersion !== undefined && schemaVersion !== null && schemaVersion !== 2) {
    throw new LayoutInvalidError(`${what} has schemaVersion ${JSON.stringify(schemaVersion)}; only 2 is supported`);
  }
  const mediaType = optString(doc['mediaType'], `${what} mediaType`);
  if (mediaType && mediaType !== MediaType.ociIndex) throw new LayoutInvalidError(`${what} declares mediaType ${JSON.stringify(mediaType)}, not an OCI index`);
  const list = doc['manifests'];
  if (list !== undefined && list !== null && !Array.isArray(list)) throw new LayoutInvalidError(`${what}: "manifests" must be a list`);
  const manifests = (list ?? []).map((m: unknown, i: number) => parseEntry(m, `${what} manifests[${i}]`));
  const index: OciIndex = { schemaVersion: 2, manifests };
  if (mediaType) index.mediaType = mediaType;
  const annotations = stringMap(doc['annotations'], `${what} annotations`);
  if (annotations && Object.keys(annotations).length) index.annotations = { ...annotations };
  return index;
}

function serializeEntry(e: IndexEntry): Record<string, unknown> {
  return {
    ...(e.mediaType ? { mediaType: e.mediaType } : {}),
    digest: e.digest,
    size: e.size,
    ...(e.urls?.length ? { urls: e.urls } : {}),
    ...(e.annotations && Object.keys(e.annotations).length ? { annotations: sortedMap(e.annotations) } : {}),
    ...(e.data ? { data: e.data } : {}),
    ...(e.platform
      ? {
          platform: {
            architecture: e.platform.architecture,
            os: e.platform.os,
            ...(e.platform['os.version'] ? { 'os.version': e.platform['os.version'] } : {}),
            ...(e.platform['os.features']?.length ? { 'os.features': e.platform['os.features'] } : {}),
            ...(e.platform.variant ? { variant: e.platform.variant } : {}),
          },
        }
      : {}),
  };
}

/** index.json bytes as json.Marshal(imgspecv1.Index) writes them (compact, no newline). */
export function serializeOciIndex(index: OciIndex): Buffer {
  return Buffer.from(
    goJson({
      schemaVersion: index.schemaVersion,
      ...(index.mediaType ? { mediaType: index.mediaType } : {}),
      manifests: index.manifests.map(serializeEntry),
      ...(index.annotations && Object.keys(index.annotations).length ? { annotations: sortedMap(index.annotations) } : {}),
    }),
  );
}

export function emptyOciIndex(): OciIndex {
  return { schemaVersion: 2, manifests: [] };
}

export function refNameOf(e: IndexEntry): string | undefined {
  return e.annotations?.[REF_NAME_ANNOTATION];
}

/**
 * Adds a committed manifest to the index exactly as containers/image 5.23's addManifest: a
 * named entry takes the name away from the (first) older entry holding it — that entry stays,
 * unnamed, as skopeo 1.9 leaves it — then replaces an unnamed entry with the same digest, or
 * is appended. Returns a new index.
 */
export function addManifestToIndex(index: OciIndex, entry: IndexEntry): OciIndex {
  const manifests = index.manifests.map((m) => ({ ...m, ...(m.annotations ? { annotations: { ...m.annotations } } : {}) }));
  const name = refNameOf(entry);
  if (name) {
    const holder = manifests.find((m) => refNameOf(m) === name);
    if (holder?.annotations) {
      delete holder.annotations[REF_NAME_ANNOTATION];
      if (Object.keys(holder.annotations).length === 0) delete holder.annotations;
    }
  }
  const same = manifests.findIndex((m) => m.digest === entry.digest && !refNameOf(m));
  if (same >= 0) manifests[same] = entry;
  else manifests.push(entry);
  return { ...index, manifests };
}

export type IndexSelector = { image?: string; sourceIndex?: number };

/**
 * The entry a reference selects (containers/image getManifestDescriptor): by ref name (only
 * OCI manifest / index entries qualify), by `@N`, or the only entry. Returns its position too,
 * or why nothing was selected (a message without the layout's name).
 */
export function selectIndexEntry(index: OciIndex, sel: IndexSelector): { entry: IndexEntry; position: number } | { problem: 'not-found' | 'ambiguous' | 'out-of-range'; message: string } {
  if (sel.sourceIndex !== undefined) {
    const entry = index.manifests[sel.sourceIndex];
    if (!entry) {
      return { problem: 'out-of-range', message: `index @${sel.sourceIndex} is too large, only ${index.manifests.length} entries available` };
    }
    return { entry, position: sel.sourceIndex };
  }
  if (sel.image === undefined || sel.image === '') {
    if (index.manifests.length === 0) return { problem: 'not-found', message: 'the layout holds no image' };
    if (index.manifests.length > 1) {
      return { problem: 'ambiguous', message: `more than one image in the layout (${index.manifests.length}); choose one with :NAME or :@INDEX` };
    }
    return { entry: index.manifests[0]!, position: 0 };
  }
  const position = index.manifests.findIndex(
    (m) => (m.mediaType === MediaType.ociManifest || m.mediaType === MediaType.ociIndex) && refNameOf(m) === sel.image,
  );
  if (position < 0) return { problem: 'not-found', message: `no descriptor found for reference ${JSON.stringify(sel.image)}` };
  return { entry: index.manifests[position]!, position };
}
