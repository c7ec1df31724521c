import { createHash } from 'node:crypto';
import { digestHex } from '../../image-spec/digest';
import { type DockerReference, repositoryName } from '../../image-spec/docker-reference';
import { goJson } from '../../image-spec/go-json';

/**
 * The metadata files of a `docker save` archive as containers/image's docker-archive writer
 * produces them (docker/internal/tarfile/writer.go): `manifest.json`, `repositories`, and the
 * legacy per-layer directories (`<layerID>/{layer.tar → ../<hex>.tar, VERSION, json}`) that
 * older `docker load` versions read. Pure functions; file names are containers/image's.
 */

/** `<hex>.json`: where the config with this digest is stored. */
export function configFileName(configDigest: string): string {
  return `${digestHex(configDigest)}.json`;
}

/** `<hex>.tar`: where the (uncompressed) layer with this digest is stored. */
export function layerFileName(layerDigest: string): string {
  return `${digestHex(layerDigest)}.tar`;
}

/** `name:tag` as written in RepoTags (the fully qualified name, e.g. `docker.io/library/busybox:latest`). */
export function repoTagString(ref: DockerReference): string {
  return `${repositoryName(ref)}:${ref.tag ?? 'latest'}`;
}

/** manifest.json: one item (skiff writes one image per archive, as skopeo copy does). */
export function manifestJson(item: { config: string; repoTags: readonly string[]; layers: readonly string[] }): Buffer {
  return Buffer.from(goJson([{ Config: item.config, RepoTags: [...item.repoTags], Layers: [...item.layers] }]));
}

/**
 * `repositories`: `{name: {tag: topLayerID}}` with keys in Go's map order (UTF-8 byte order;
 * built by hand: JSON.stringify would put integer-like tags first); `{}` without tags or layers.
 */
export function repositoriesJson(repoTags: readonly DockerReference[], topLayerId: string | undefined): Buffer {
  const repos = new Map<string, Map<string, string>>();
  if (topLayerId !== undefined) {
    for (const ref of repoTags) {
      const name = repositoryName(ref);
      if (!repos.has(name)) repos.set(name, new Map());
      repos.get(name)!.set(ref.tag ?? 'latest', topLayerId);
    }
  }
  const object = (m: Map<string, string>) => `{${[...m.keys()].sort(compareUtf8).map((k) => `${goJson(k)}:${m.get(k)!}`).join(',')}}`;
  const inner = new Map([...repos].map(([name, tags]) => [name, object(new Map([...tags].map(([t, id]) => [t, goJson(id)])))]));
  return Buffer.from(object(inner));
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const TOP_LAYER_ATTRIBUTES = ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os'] as const;

/** One legacy layer directory: `<id>/json` holds `json`. */
export interface LegacyLayer {
  id: string;
  json: Buffer;
}

/**
 * The legacy layer directories, one per layer of the manifest (containers/image
 * writeLegacyMetadataLocked). Each layer's config is a Go map marshalled with sorted keys:
 * `parent` (the previous layer's ID, except for the first), and for the top layer seven
 * attributes of the image config copied as raw JSON (compacted as Go's json.RawMessage is,
 * `null` when absent). The ID is the sha256 of that map with `layer_id` = the layer's ChainID
 * (docker's layer.CreateChainID) added, much like docker's v1.CreateID; then `id` is added.
 * The ID thus depends on the whole history and the config: a repeated layer never reuses an ID.
 */
export function legacyLayers(layerDigests: readonly string[], configBytes: Buffer): LegacyLayer[] {
  const out: LegacyLayer[] = [];
  let chain = '';
  let parent: string | undefined;
  const raw = layerDigests.length ? rawObjectMembers(configBytes.toString('utf8')) : new Map<string, string>();
  layerDigests.forEach((d, i) => {
    chain = chain === '' ? d : `sha256:${createHash('sha256').update(`${chain} ${d}`).digest('hex')}`;
    const members = new Map<string, string>();
    if (parent !== undefined) members.set('parent', goJson(parent));
    if (i === layerDigests.length - 1) {
      for (const attr of TOP_LAYER_ATTRIBUTES) members.set(attr, raw.has(attr) ? goCompact(raw.get(attr)!) : 'null');
    }
    const id = createHash('sha256').update(goObject(new Map([...members, ['layer_id', goJson(chain)]]))).digest('hex');
    members.set('id', goJson(id));
    out.push({ id, json: Buffer.from(goObject(members)) });
    parent = id;
  });
  return out;
}

/** A JSON object of already serialised member values, keys in Go's map order. */
function goObject(members: Map<string, string>): string {
  const keys = [...members.keys()].sort(compareUtf8);
  return `{${keys.map((k) => `${goJson(k)}:${members.get(k)!}`).join(',')}}`;
}

/**
 * The raw text of each member of a top-level JSON object (json.Unmarshal into
 * map[string]*json.RawMessage: keys exact, the last duplicate wins). The input must be valid JSON.
 */
export function rawObjectMembers(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const skipString = () => {
    // at the opening quote
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '\\') i += 2;
      else if (c === '"') {
        i++;
        return;
      } else i++;
    }
    throw new SyntaxError('unterminated string');
  };
  const skipValue = () => {
    ws();
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < text.length) {
        const d = text[i]!;
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      throw new SyntaxError('unterminated value');
    }
    while (i < text.length && !',}] \t\n\r'.includes(text[i]!)) i++;
  };
  ws();
  if (text[i] !== '{') throw new SyntaxError('not a JSON object');
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') break;
    if (text[i] !== '"') throw new SyntaxError('expected a key');
    const keyStart = i;
    skipString();
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    ws();
    if (text[i] !== ':') throw new SyntaxError('expected ":"');
    i++;
    ws();
    const valueStart = i;
    skipValue();
    out.set(key, text.slice(valueStart, i));
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') break;
    throw new SyntaxError('expected "," or "}"');
  }
  return out;
}

/** Go's json.Compact with HTML escaping (what json.Marshal does to a json.RawMessage). */
export function goCompact(raw: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (inString) {
      if (c === '\\') {
        out += c + raw[i + 1]!;
        i++;
        continue;
      }
      if (c === '"') inString = false;
      if (c === '<') out += '\\u003c';
      else if (c === '>') out += '\\u003e';
      else if (c === '&') out += '\\u0026';
      else if (c === '\u2028') out += '\\u2028';
      else if (c === '\u2029') out += '\\u2029';
      else out += c;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    if (c === '"') inString = true;
    out += c;
  }
  return out;
}
