/**
 * What containers/image reads from a Docker image config for inspect: the config decoded as
 * json.Unmarshal decodes it into manifest.Schema2Image (a v2s2 image) or Schema2V1Image (the
 * second decode OCI1.Inspect makes of an OCI config, for DockerVersion), with the same keys
 * matched (Go's case folding) and the same failures (a field of the wrong type, a `created`
 * that is not RFC 3339, an integer out of range: ManifestInvalidError, where skopeo fails).
 */
import { GO_ZERO_TIME } from '../go-template/go-time';
import { decodeStruct, type Fields, goBool, goInt, goKeySet, goStrSlice, goString, goStringList, goStringMap, goTimeValue, invalid } from './go-json-decode';

type Json = Record<string, unknown>;

interface Schema2Config {
  Env?: string[];
  Labels?: Map<string, string>;
}

// Fields inspect does not show are decoded only for their failures.
type ConfigField = Fields<Schema2Config>[number];
const stringField = (name: string): ConfigField => [name, (_t, v, w) => void goString('', v, w)];
const boolField = (name: string): ConfigField => [name, (_t, v, w) => void goBool(false, v, w)];
const strSliceField = (name: string): ConfigField => [name, (_t, v, w) => void goStrSlice(undefined, v, w)];

interface HealthConfig {
  test?: string[];
}

const HEALTH_FIELDS: Fields<HealthConfig> = [
  ['Test', (t, v, w) => (t.test = goStringList(t.test, v, w))],
  ['StartPeriod', (_t, v, w) => goInt(v, w)],
  ['Interval', (_t, v, w) => goInt(v, w)],
  ['Timeout', (_t, v, w) => goInt(v, w)],
  ['Retries', (_t, v, w) => goInt(v, w)],
];

/** manifest.Schema2Config (no JSON tags: the Go field names, matched case-insensitively). */
const CONFIG_FIELDS: Fields<Schema2Config> = [
  stringField('Hostname'),
  stringField('Domainname'),
  stringField('User'),
  boolField('AttachStdin'),
  boolField('AttachStdout'),
  boolField('AttachStderr'),
  ['ExposedPorts', (_t, v, w) => void goKeySet(undefined, v, w)],
  boolField('Tty'),
  boolField('OpenStdin'),
  boolField('StdinOnce'),
  ['Env', (t, v, w) => (t.Env = goStringList(t.Env, v, w))],
  strSliceField('Cmd'),
  ['Healthcheck', (_t, v, w) => void decodeStruct<HealthConfig>({}, v, w, HEALTH_FIELDS)],
  boolField('ArgsEscaped'),
  stringField('Image'),
  ['Volumes', (_t, v, w) => void goKeySet(undefined, v, w)],
  stringField('WorkingDir'),
  strSliceField('Entrypoint'),
  boolField('NetworkDisabled'),
  stringField('MacAddress'),
  ['OnBuild', (_t, v, w) => void goStringList(undefined, v, w)],
  ['Labels', (t, v, w) => (t.Labels = goStringMap(t.Labels, v, w))],
  stringField('StopSignal'),
  ['StopTimeout', (_t, v, w) => goInt(v, w)],
  strSliceField('Shell'),
];

const emptyConfig = (): Schema2Config => ({});

interface Schema2Image {
  created: string;
  dockerVersion: string;
  architecture: string;
  variant: string;
  os: string;
  /** The `config` pointer: undefined when absent or null. */
  config?: Schema2Config;
}

const V1_IMAGE_FIELDS: Fields<Schema2Image> = [
  ['id', (_t, v, w) => void goString('', v, w)],
  ['parent', (_t, v, w) => void goString('', v, w)],
  ['comment', (_t, v, w) => void goString('', v, w)],
  ['created', (t, v, w) => (t.created = goTimeValue(t.created, v, w))],
  ['container', (_t, v, w) => void goString('', v, w)],
  ['container_config', (_t, v, w) => void decodeStruct(emptyConfig(), v, w, CONFIG_FIELDS)],
  ['docker_version', (t, v, w) => (t.dockerVersion = goString(t.dockerVersion, v, w))],
  ['author', (_t, v, w) => void goString('', v, w)],
  ['config', (t, v, w) => (t.config = v === null ? undefined : decodeStruct(t.config ?? emptyConfig(), v, w, CONFIG_FIELDS))],
  ['architecture', (t, v, w) => (t.architecture = goString(t.architecture, v, w))],
  ['variant', (t, v, w) => (t.variant = goString(t.variant, v, w))],
  ['os', (t, v, w) => (t.os = goString(t.os, v, w))],
  ['size', (_t, v, w) => goInt(v, w)],
];

interface RootFS {
  type: string;
  diffIds?: string[];
}

interface History {
  created: string;
}

const ROOTFS_FIELDS: Fields<RootFS> = [
  ['type', (t, v, w) => (t.type = goString(t.type, v, w))],
  ['diff_ids', (t, v, w) => (t.diffIds = goStringList(t.diffIds, v, w))],
];

const HISTORY_FIELDS: Fields<History> = [
  ['created', (t, v, w) => (t.created = goTimeValue(t.created, v, w))],
  ['author', (_t, v, w) => void goString('', v, w)],
  ['created_by', (_t, v, w) => void goString('', v, w)],
  ['comment', (_t, v, w) => void goString('', v, w)],
  ['empty_layer', (_t, v, w) => void goBool(false, v, w)],
];

/** Schema2Image = Schema2V1Image plus rootfs, history, os.version and os.features. */
const IMAGE_FIELDS: Fields<Schema2Image> = [
  ...V1_IMAGE_FIELDS,
  ['rootfs', (_t, v, w) => void decodeStruct<RootFS>({ type: '' }, v, w, ROOTFS_FIELDS)],
  [
    'history',
    (_t, v, w) => {
      if (v === null) return;
      if (!Array.isArray(v)) throw invalid(`${w} must be a list`);
      v.forEach((x, i) => decodeStruct<History>({ created: GO_ZERO_TIME }, x, `${w}[${i}]`, HISTORY_FIELDS));
    },
  ],
  ['os.version', (_t, v, w) => void goString('', v, w)],
  ['os.features', (_t, v, w) => void goStringList(undefined, v, w)],
];

/** The fields of a Docker config that inspect shows; Labels and Env come from `config` (nil when it is absent). */
export interface DockerInspectFields {
  /** Go's JSON text of the time.Time (Go's zero time when absent). */
  created: string;
  dockerVersion: string;
  architecture: string;
  variant: string;
  os: string;
  labels?: Map<string, string>;
  env?: string[];
}

/**
 * Decodes a parsed config as json.Unmarshal into Schema2Image (`schema2Image`, a v2s2 image's
 * config) or Schema2V1Image (the DockerVersion decode of an OCI config).
 */
export function dockerInspectFields(raw: Json, opts: { schema2Image: boolean }): DockerInspectFields {
  const image: Schema2Image = { created: GO_ZERO_TIME, dockerVersion: '', architecture: '', variant: '', os: '' };
  decodeStruct(image, raw, '', opts.schema2Image ? IMAGE_FIELDS : V1_IMAGE_FIELDS);
  return {
    created: image.created,
    dockerVersion: image.dockerVersion,
    architecture: image.architecture,
    variant: image.variant,
    os: image.os,
    ...(image.config?.Labels ? { labels: image.config.Labels } : {}),
    ...(image.config?.Env ? { env: image.config.Env } : {}),
  };
}
