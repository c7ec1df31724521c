import { parseGoTemplate, renderGoTemplate } from '../go-template/go-template';
import { GoStructTypes } from '../go-template/go-struct-types';
import { formatGoJsonTime, GO_ZERO_TIME } from '../go-template/go-time';
import type { ImageManifest, Schema1Manifest } from '../image-spec/manifest';
import { MediaType } from '../image-spec/media-types';
import { dockerInspectFields } from '../image-spec/docker-config';
import { ociInspectFields, sortedMap } from '../image-spec/oci-config';

/** One layer as skopeo's inspect prints it in LayersData. */
export interface InspectLayer {
  MIMEType: string;
  Digest: string;
  Size: number;
  Annotations: Record<string, string> | null;
}

/**
 * skopeo's inspect output. Field order and null/empty rules follow skopeo's inspectOutput
 * struct (Name and Tag omitted when empty; Labels/Env null when absent; Labels keys sorted, as
 * Go prints maps); Variant, which skopeo computes but does not print, is added after Os when
 * known.
 */
export interface InspectOutput {
  Name?: string;
  /** The schema1 manifest's tag (ImageInspectInfo.Tag); never set for other manifest types. */
  Tag?: string;
  Digest: string;
  RepoTags: string[];
  Created: string | null;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  LayersData: InspectLayer[];
  Env: string[] | null;
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function s(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A Go `[]string`: null elements decode as "". */
function stringList(v: unknown): string[] | null {
  return Array.isArray(v) ? v.filter((x) => x === null || typeof x === 'string').map((x: string | null) => x ?? '') : null;
}

/** A Go `map[string]string`: null values decode as ""; printed with sorted keys. */
function stringMap(v: unknown): Record<string, string> | null {
  if (!isRecord(v)) return null;
  const entries = Object.entries(v).filter(([, x]) => x === null || typeof x === 'string');
  return sortedMap(Object.fromEntries(entries.map(([k, x]) => [k, (x as string | null) ?? ''])));
}

export interface InspectInputs {
  name?: string;
  /** Digest of the top-level manifest (the index for a multi-arch image). */
  digest: string;
  repoTags: string[];
}

/** What an inspect takes from the manifest and config alone: everything but Name, Digest and RepoTags. */
export type InspectParts = Omit<InspectOutput, 'Name' | 'Digest' | 'RepoTags'>;

/** The output for one request: the parts (shared, never mutated) with this request's name, digest and tags. */
export function assemble(inputs: InspectInputs, parts: InspectParts): InspectOutput {
  return {
    ...(inputs.name ? { Name: inputs.name } : {}),
    ...(parts.Tag ? { Tag: parts.Tag } : {}),
    Digest: inputs.digest,
    RepoTags: inputs.repoTags,
    Created: parts.Created,
    DockerVersion: parts.DockerVersion,
    Labels: parts.Labels,
    Architecture: parts.Architecture,
    Os: parts.Os,
    ...(parts.Variant ? { Variant: parts.Variant } : {}),
    Layers: parts.Layers,
    LayersData: parts.LayersData,
    Env: parts.Env,
  };
}

/**
 * Inspect of a v2s2 / OCI image: everything but the digest and tags comes from the config.
 * Created follows the config struct containers/image decodes into, chosen by the manifest's
 * media type: a Docker v2s2 config's `created` is a time.Time value (absent → Go's zero time),
 * an OCI config's is a pointer (absent → null).
 */
export function inspectImage(inputs: InspectInputs, manifest: ImageManifest, config: Json): InspectOutput {
  return assemble(inputs, inspectImageParts(manifest, config));
}

/**
 * inspectImage without the request's identity: a pure function of the manifest and config.
 * The config is decoded as containers/image decodes it (keys matched under Go's case folding,
 * the last one winning; a field of the wrong type or a `created` that is not RFC 3339 fails
 * the inspect with MANIFEST_INVALID, as skopeo fails): into Schema2Image for a v2s2 image;
 * into imgspecv1.Image and, for DockerVersion, Schema2V1Image for an OCI image.
 */
export function inspectImageParts(manifest: ImageManifest, config: Json): InspectParts {
  const fields =
    manifest.mediaType === MediaType.dockerV2S2
      ? dockerInspectFields(config, { schema2Image: true })
      : { ...ociInspectFields(config), dockerVersion: dockerInspectFields(config, { schema2Image: false }).dockerVersion };
  return {
    Created: fields.created ?? null,
    DockerVersion: fields.dockerVersion,
    Labels: fields.labels ? sortedMap(Object.fromEntries(fields.labels)) : null,
    Architecture: fields.architecture,
    Os: fields.os,
    Variant: fields.variant || undefined,
    Layers: manifest.layers.map((l) => l.digest),
    LayersData: manifest.layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: l.annotations ?? null })),
    Env: fields.env ?? null,
  };
}

/**
 * Inspect of a schema1 manifest: Tag from the manifest, other fields from the newest history
 * entry, every layer oldest first — throwaway ones included, as containers/image's
 * Schema1.LayerInfos lists them.
 */
export function inspectSchema1(inputs: InspectInputs, manifest: Schema1Manifest): InspectOutput {
  const v1 = manifest.history[0] ?? {};
  const cfg = isRecord(v1['config']) ? v1['config'] : undefined;
  const layers = [...manifest.fsLayers].reverse();
  return assemble(inputs, {
    Tag: manifest.tag,
    Created: typeof v1['created'] === 'string' ? formatGoJsonTime(v1['created']) ?? GO_ZERO_TIME : GO_ZERO_TIME,
    DockerVersion: s(v1['docker_version']),
    Labels: cfg ? stringMap(cfg['Labels']) : null,
    Architecture: s(v1['architecture']),
    Os: s(v1['os']),
    Variant: s(v1['variant']) || undefined,
    Layers: layers,
    LayersData: layers.map((d) => ({ MIMEType: '', Digest: d, Size: -1, Annotations: null })),
    Env: cfg ? stringList(cfg['Env']) : null,
  });
}

/**
 * skopeo's inspect structs as Go's text/template sees them: `inspect.Output` (skopeo's
 * inspectOutput, what `--format` executes on) and `types.ImageInspectLayer`, fields in
 * declaration order with their Go types and json tags. Variant is skiff's addition: skopeo
 * computes it but its struct has no such field, so it is readable (`{{.Variant}}`) but hidden
 * from `{{.}}` and `{{json .}}`.
 */
export const INSPECT_STRUCT_TYPES = new GoStructTypes([
  {
    name: 'inspect.Output',
    fields: [
      { name: 'Name', type: 'string', omitEmpty: true },
      { name: 'Tag', type: 'string', omitEmpty: true },
      { name: 'Digest', type: 'digest.Digest' },
      { name: 'RepoTags', type: '[]string' },
      { name: 'Created', type: '*time.Time' },
      { name: 'DockerVersion', type: 'string' },
      { name: 'Labels', type: 'map[string]string' },
      { name: 'Architecture', type: 'string' },
      { name: 'Os', type: 'string' },
      { name: 'Variant', type: 'string', hidden: true },
      { name: 'Layers', type: '[]string' },
      { name: 'LayersData', type: '[]types.ImageInspectLayer' },
      { name: 'Env', type: '[]string' },
    ],
  },
  {
    name: 'types.ImageInspectLayer',
    fields: [
      { name: 'MIMEType', type: 'string' },
      { name: 'Digest', type: 'digest.Digest' },
      { name: 'Size', type: 'int64' },
      { name: 'Annotations', type: 'map[string]string' },
    ],
  },
]);

/** skopeo inspect `--format`: the template executed on the output as skopeo's inspect.Output (the caller prepares the template as the CLI does). */
export function renderInspectTemplate(template: string, output: InspectOutput): string {
  return renderGoTemplate(template, output, { structTypes: INSPECT_STRUCT_TYPES, rootType: 'inspect.Output' });
}

/** Parses an inspect template without running it: a TemplateError (400 INVALID_TEMPLATE) for syntax outside the supported subset. */
export function checkInspectTemplate(template: string): void {
  parseGoTemplate(template);
}
