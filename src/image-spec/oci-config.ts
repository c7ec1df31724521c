import { ManifestInvalidError } from './manifest';
import { decodeStruct, type Fields, goBool, goKeySet, goString, goStringList, goStringMap, goTime, invalid } from './go-json-decode';

/**
 * The image config as an OCI image config (what containers/image's OCIConfig() returns and
 * `skopeo inspect --config` prints): the Docker or OCI config JSON decoded into the OCI
 * structure — unknown fields dropped, Go's `omitempty` rules, timestamps normalised — in the
 * OCI struct's field order, maps with sorted keys.
 */
export type OciImageConfig = Record<string, unknown>;

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's map key order: byte order of the UTF-8 encodings (not JavaScript's UTF-16 order). */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Go marshals maps with sorted keys. Note that JSON.stringify still prints integer-like keys
 * ("2", "10") first, in numeric order, whatever the insertion order.
 */
export function sortedMap<T>(m: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(m).sort(compareUtf8).map((k) => [k, m[k]!]));
}

interface DecodedImageConfig {
  User: string;
  ExposedPorts?: Set<string>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Set<string>;
  WorkingDir: string;
  Labels?: Map<string, string>;
  StopSignal: string;
  ArgsEscaped: boolean;
}

interface DecodedRootFS {
  type: string;
  diffIds?: string[];
}

interface DecodedHistory {
  created?: string;
  createdBy: string;
  author: string;
  comment: string;
  emptyLayer: boolean;
}

interface DecodedImage {
  created?: string;
  author: string;
  architecture: string;
  variant: string;
  os: string;
  osVersion: string;
  osFeatures?: string[];
  config: DecodedImageConfig;
  rootfs: DecodedRootFS;
  history?: DecodedHistory[];
}

const IMAGE_CONFIG_FIELDS: Fields<DecodedImageConfig> = [
  ['User', (t, v, w) => (t.User = goString(t.User, v, w))],
  ['ExposedPorts', (t, v, w) => (t.ExposedPorts = goKeySet(t.ExposedPorts, v, w))],
  ['Env', (t, v, w) => (t.Env = goStringList(t.Env, v, w))],
  ['Entrypoint', (t, v, w) => (t.Entrypoint = goStringList(t.Entrypoint, v, w))],
  ['Cmd', (t, v, w) => (t.Cmd = goStringList(t.Cmd, v, w))],
  ['Volumes', (t, v, w) => (t.Volumes = goKeySet(t.Volumes, v, w))],
  ['WorkingDir', (t, v, w) => (t.WorkingDir = goString(t.WorkingDir, v, w))],
  ['Labels', (t, v, w) => (t.Labels = goStringMap(t.Labels, v, w))],
  ['StopSignal', (t, v, w) => (t.StopSignal = goString(t.StopSignal, v, w))],
  ['ArgsEscaped', (t, v, w) => (t.ArgsEscaped = goBool(t.ArgsEscaped, v, w))],
];

const ROOTFS_FIELDS: Fields<DecodedRootFS> = [
  ['type', (t, v, w) => (t.type = goString(t.type, v, w))],
  ['diff_ids', (t, v, w) => (t.diffIds = goStringList(t.diffIds, v, w))],
];

const HISTORY_FIELDS: Fields<DecodedHistory> = [
  ['created', (t, v, w) => (t.created = goTime(v, w))],
  ['created_by', (t, v, w) => (t.createdBy = goString(t.createdBy, v, w))],
  ['author', (t, v, w) => (t.author = goString(t.author, v, w))],
  ['comment', (t, v, w) => (t.comment = goString(t.comment, v, w))],
  ['empty_layer', (t, v, w) => (t.emptyLayer = goBool(t.emptyLayer, v, w))],
];

const emptyHistory = (): DecodedHistory => ({ createdBy: '', author: '', comment: '', emptyLayer: false });

/** `[]History`: undefined is nil; element i is decoded over the previous element i. */
function goHistoryList(prev: DecodedHistory[] | undefined, v: unknown, where: string): DecodedHistory[] | undefined {
  if (v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(`${where} must be a list`);
  return v.map((x, i) => decodeStruct(prev?.[i] ?? emptyHistory(), x, `${where}[${i}]`, HISTORY_FIELDS));
}

const IMAGE_FIELDS: Fields<DecodedImage> = [
  ['created', (t, v, w) => (t.created = goTime(v, w))],
  ['author', (t, v, w) => (t.author = goString(t.author, v, w))],
  ['architecture', (t, v, w) => (t.architecture = goString(t.architecture, v, w))],
  ['variant', (t, v, w) => (t.variant = goString(t.variant, v, w))],
  ['os', (t, v, w) => (t.os = goString(t.os, v, w))],
  ['os.version', (t, v, w) => (t.osVersion = goString(t.osVersion, v, w))],
  ['os.features', (t, v, w) => (t.osFeatures = goStringList(t.osFeatures, v, w))],
  ['config', (t, v, w) => decodeStruct(t.config, v, w, IMAGE_CONFIG_FIELDS)],
  ['rootfs', (t, v, w) => decodeStruct(t.rootfs, v, w, ROOTFS_FIELDS)],
  ['history', (t, v, w) => (t.history = goHistoryList(t.history, v, w))],
];

// ---------------------------------------------------------------------------------------------
// json.Marshal of the decoded struct: struct field order, omitempty, maps sorted.

/** Assigns only non-empty values (Go's omitempty for strings, slices, maps, bools). */
function put(out: Json, key: string, v: string | boolean | string[] | Json | undefined): void {
  if (v === undefined || v === '' || v === false) return;
  if (Array.isArray(v) && v.length === 0) return;
  if (isRecord(v) && Object.keys(v).length === 0) return;
  out[key] = v;
}

function setJson(s: Set<string> | undefined): Json | undefined {
  return s && Object.fromEntries([...s].sort(compareUtf8).map((k) => [k, {}]));
}

function mapJson(m: Map<string, string> | undefined): Json | undefined {
  return m && Object.fromEntries([...m.keys()].sort(compareUtf8).map((k) => [k, m.get(k)!]));
}

function imageConfigJson(c: DecodedImageConfig): Json {
  const out: Json = {};
  put(out, 'User', c.User);
  put(out, 'ExposedPorts', setJson(c.ExposedPorts));
  put(out, 'Env', c.Env);
  put(out, 'Entrypoint', c.Entrypoint);
  put(out, 'Cmd', c.Cmd);
  put(out, 'Volumes', setJson(c.Volumes));
  put(out, 'WorkingDir', c.WorkingDir);
  put(out, 'Labels', mapJson(c.Labels));
  put(out, 'StopSignal', c.StopSignal);
  put(out, 'ArgsEscaped', c.ArgsEscaped);
  return out;
}

function historyJson(h: DecodedHistory): Json {
  const out: Json = {};
  put(out, 'created', h.created);
  put(out, 'created_by', h.createdBy);
  put(out, 'author', h.author);
  put(out, 'comment', h.comment);
  put(out, 'empty_layer', h.emptyLayer);
  return out;
}

/** Parses config bytes into a JSON object; anything else is MANIFEST_INVALID. */
export function parseConfigJson(bytes: Uint8Array): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new ManifestInvalidError(`image config is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(doc)) throw new ManifestInvalidError('image config is not a JSON object');
  return doc;
}

/**
 * Decodes a parsed Docker or OCI config as json.Unmarshal into imgspecv1.Image does and returns
 * what json.Marshal prints for it: created, author, architecture, variant, os, os.version,
 * os.features, config, rootfs, history (image-spec 1.1.0-rc2, as vendored by skopeo 1.9.3).
 * Throws ManifestInvalidError where json.Unmarshal fails.
 */
export function toOciImageConfig(raw: Json): OciImageConfig {
  const image = decodeImage(raw);
  const out: Json = {};
  put(out, 'created', image.created);
  put(out, 'author', image.author);
  out['architecture'] = image.architecture;
  put(out, 'variant', image.variant);
  out['os'] = image.os;
  put(out, 'os.version', image.osVersion);
  put(out, 'os.features', image.osFeatures);
  // `config` is a struct: omitempty never leaves it out.
  out['config'] = imageConfigJson(image.config);
  out['rootfs'] = { type: image.rootfs.type, diff_ids: image.rootfs.diffIds ?? null };
  if (image.history && image.history.length > 0) out['history'] = image.history.map(historyJson);
  return out;
}

function decodeImage(raw: Json): DecodedImage {
  const image: DecodedImage = {
    author: '',
    architecture: '',
    variant: '',
    os: '',
    osVersion: '',
    config: { User: '', WorkingDir: '', StopSignal: '', ArgsEscaped: false },
    rootfs: { type: '' },
  };
  return decodeStruct(image, raw, '', IMAGE_FIELDS);
}

/** The fields of imgspecv1.Image that containers/image's OCI1.Inspect shows. */
export interface OciInspectFields {
  /** Go's JSON text of the *time.Time; undefined for nil. */
  created?: string;
  architecture: string;
  variant: string;
  os: string;
  labels?: Map<string, string>;
  env?: string[];
}

/** Decodes a parsed config as json.Unmarshal into imgspecv1.Image does (the failures of toOciImageConfig). */
export function ociInspectFields(raw: Json): OciInspectFields {
  const image = decodeImage(raw);
  return {
    ...(image.created !== undefined ? { created: image.created } : {}),
    architecture: image.architecture,
    variant: image.variant,
    os: image.os,
    ...(image.config.Labels ? { labels: image.config.Labels } : {}),
    ...(image.config.Env ? { env: image.config.Env } : {}),
  };
}
