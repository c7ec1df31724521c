import { ManifestInvalidError } from './manifest';
import { formatGoJsonTime } from './go-time';

/**
 * The image config as an OCI image config (what containers/image's OCIConfig() returns and
 * `skopeo inspect --config` prints): the Docker or OCI config JSON decoded into the OCI
 * structure — unknown fields dropped, Go's `omitempty` rules, timestamps normalised — in the
 * OCI struct's field order.
 */
export type OciImageConfig = Record<string, unknown>;

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's json.Unmarshal matches keys case-insensitively, preferring an exact match. */
function field(obj: Json, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function str(obj: Json, name: string, where: string): string | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ManifestInvalidError(`image config: ${where}${name} must be a string`);
  return v;
}

function strList(obj: Json, name: string, where: string): string[] | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ManifestInvalidError(`image config: ${where}${name} must be a list of strings`);
  return v as string[];
}

function strMap(obj: Json, name: string, where: string): Record<string, string> | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new ManifestInvalidError(`image config: ${where}${name} must be a map of strings`);
  return sortedMap(v as Record<string, string>);
}

/** Go marshals maps with sorted keys. */
export function sortedMap<T>(m: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]!]));
}

/** Go's `map[string]struct{}`: keys kept, values become `{}`. */
function keySet(src: Json, name: string, where: string): Record<string, object> | undefined {
  const v = field(src, name);
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new ManifestInvalidError(`image config: ${where}${name} must be an object`);
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, {}]));
}

function time(obj: Json, name: string, where: string): string | undefined {
  const v = str(obj, name, where);
  if (v === undefined) return undefined;
  const t = formatGoJsonTime(v);
  if (t === undefined) throw new ManifestInvalidError(`image config: ${where}${name} is not an RFC 3339 time: ${JSON.stringify(v)}`);
  return t;
}

/** Assigns only non-empty values (Go's omitempty for strings, slices, maps, bools). */
function put(out: Json, key: string, v: unknown): void {
  if (v === undefined || v === '' || v === false) return;
  if (Array.isArray(v) && v.length === 0) return;
  if (isRecord(v) && Object.keys(v).length === 0 && key !== 'config') return;
  out[key] = v;
}

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

export function toOciImageConfig(raw: Json): OciImageConfig {
  const out: Json = {};
  put(out, 'created', time(raw, 'created', ''));
  put(out, 'author', str(raw, 'author', ''));
  // image-spec 1.1.0-rc2 field order, as vendored by the skopeo we compare with.
  out['architecture'] = str(raw, 'architecture', '') ?? '';
  put(out, 'variant', str(raw, 'variant', ''));
  out['os'] = str(raw, 'os', '') ?? '';
  put(out, 'os.version', str(raw, 'os.version', ''));
  put(out, 'os.features', strList(raw, 'os.features', ''));
  const cfgIn = field(raw, 'config');
  const cfg: Json = {};
  if (isRecord(cfgIn)) {
    const w = 'config.';
    put(cfg, 'User', str(cfgIn, 'User', w));
    put(cfg, 'ExposedPorts', keySet(cfgIn, 'ExposedPorts', w));
    put(cfg, 'Env', strList(cfgIn, 'Env', w));
    put(cfg, 'Entrypoint', strList(cfgIn, 'Entrypoint', w));
    put(cfg, 'Cmd', strList(cfgIn, 'Cmd', w));
    put(cfg, 'Volumes', keySet(cfgIn, 'Volumes', w));
    put(cfg, 'WorkingDir', str(cfgIn, 'WorkingDir', w));
    put(cfg, 'Labels', strMap(cfgIn, 'Labels', w));
    put(cfg, 'StopSignal', str(cfgIn, 'StopSignal', w));
    const argsEscaped = field(cfgIn, 'ArgsEscaped');
    if (argsEscaped === true) cfg['ArgsEscaped'] = true;
  } else if (cfgIn !== undefined && cfgIn !== null) {
    throw new ManifestInvalidError('image config: config must be an object');
  }
  out['config'] = cfg;
  const rootfsIn = field(raw, 'rootfs');
  const rootfs: Json = { type: '', diff_ids: null };
  if (isRecord(rootfsIn)) {
    rootfs['type'] = str(rootfsIn, 'type', 'rootfs.') ?? '';
    rootfs['diff_ids'] = strList(rootfsIn, 'diff_ids', 'rootfs.') ?? null;
  }
  out['rootfs'] = rootfs;
  const historyIn = field(raw, 'history');
  if (Array.isArray(historyIn) && historyIn.length > 0) {
    out['history'] = historyIn.map((h, i) => {
      if (!isRecord(h)) throw new ManifestInvalidError(`image config: history[${i}] must be an object`);
      const w = `history[${i}].`;
      const e: Json = {};
      put(e, 'created', time(h, 'created', w));
      put(e, 'created_by', str(h, 'created_by', w));
      put(e, 'author', str(h, 'author', w));
      put(e, 'comment', str(h, 'comment', w));
      if (field(h, 'empty_layer') === true) e['empty_layer'] = true;
      return e;
    });
  }
  return out;
}
