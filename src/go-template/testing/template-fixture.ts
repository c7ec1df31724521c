/**
 * Shared data of the go-template specs: skopeo's inspect output and its Go struct types (a copy
 * of what images/ supplies, as test data: the library's specs do not import images/), and
 * render/rejects helpers. Expected strings in the specs are what Go's text/template prints for
 * the equivalent Go value (most were checked against skopeo's own `inspect --format`).
 */
import assert from 'node:assert/strict';
import { GoStructTypes } from '../go-struct-types';
import { renderGoTemplate, type GoTemplateOptions } from '../go-template';
import { TemplateError } from '../template-error';

export const DIGEST = 'sha256:9211ff727ef38f67346b8aa0d4406ec53ed9ddce1783d3446e3ad7e54c26691c';

export const inspect = {
  Name: 'registry.example.com/team/app',
  Digest: DIGEST,
  RepoTags: ['1.0', 'latest'],
  Created: '2024-01-02T03:04:05.1234Z',
  DockerVersion: '',
  Labels: { zeta: 'z', alpha: '<a&b>', num: '5', empty: '' },
  Architecture: 'amd64',
  Os: 'linux',
  Layers: ['sha256:aaaa', 'sha256:bbbb'],
  LayersData: [
    { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: 'sha256:aaaa', Size: 32, Annotations: null },
    { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: 'sha256:bbbb', Size: 1048576, Annotations: { b: '2', a: '1' } },
  ],
  Env: ['PATH=/usr/bin', 'A=<b>&c'],
};

/** The inspect output of an image without name, tags, labels, env or creation time. */
export const bare = {
  Digest: DIGEST,
  RepoTags: [],
  Created: null,
  DockerVersion: '',
  Labels: null,
  Architecture: 'arm64',
  Os: 'linux',
  Variant: 'v8',
  Layers: [],
  LayersData: [],
  Env: null,
};

/** The Go structs of skopeo's inspect output (the data every template below executes on). */
export const INSPECT_TYPES = new GoStructTypes([
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

export function render(template: string, data: unknown = inspect, options?: GoTemplateOptions): string {
  return renderGoTemplate(template, data, { structTypes: INSPECT_TYPES, rootType: 'inspect.Output', ...options });
}

/** Asserts that rendering fails with a TemplateError whose message matches. */
export function rejects(template: string, message: RegExp, data: unknown = inspect, options?: GoTemplateOptions): TemplateError {
  let caught: unknown;
  try {
    render(template, data, options);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TemplateError, `expected a TemplateError for ${template}, got ${String(caught)}`);
  assert.match(caught.message, message);
  return caught;
}
