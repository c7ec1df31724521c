import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerReference } from '../../image-spec/docker-reference';
import { configFileName, goCompact, layerFileName, legacyLayers, manifestJson, rawObjectMembers, repoTagString, repositoriesJson } from './legacy-metadata';

// Written by skopeo 1.9.3 (`skopeo copy oci:… docker-archive:…`) for an image of one layer.
const CONFIG =
  '{"created":"2026-11-27T00:08:06.100689473Z","architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:596f257d4efd459bd0bb009cd5fc0e13eb7587e40d96a890f1329951c51a756f"]},"history":[{"created":"2026-11-27T00:08:06.100689473Z","comment":"Imported from -"}]}';
const DIFF_ID = 'sha256:596f257d4efd459bd0bb009cd5fc0e13eb7587e40d96a890f1329951c51a756f';
const SKOPEO_LAYER_ID = '0001278ffccfaa91448fe447782a8fb962861675ebaae0958951ca71f097f642';
const SKOPEO_LAYER_JSON =
  '{"architecture":"amd64","config":{},"container":null,"container_config":null,"created":"2026-11-27T00:08:06.100689473Z","docker_version":null,"id":"0001278ffccfaa91448fe447782a8fb962861675ebaae0958951ca71f097f642","os":"linux"}';

test('legacy layer ID and json are skopeo’s', () => {
  const [top] = legacyLayers([DIFF_ID], Buffer.from(CONFIG));
  assert.equal(top!.id, SKOPEO_LAYER_ID);
  assert.equal(top!.json.toString(), SKOPEO_LAYER_JSON);
});

test('legacy layers chain: parent links, attributes only on top, a repeated layer gets a new ID', () => {
  const layers = legacyLayers([DIFF_ID, DIFF_ID, DIFF_ID], Buffer.from(CONFIG));
  assert.equal(new Set(layers.map((l) => l.id)).size, 3);
  const parsed = layers.map((l) => JSON.parse(l.json.toString()) as Record<string, unknown>);
  assert.deepEqual(parsed[0], { id: layers[0]!.id });
  assert.deepEqual(parsed[1], { id: layers[1]!.id, parent: layers[0]!.id });
  assert.equal(parsed[2]!['parent'], layers[1]!.id);
  assert.equal(parsed[2]!['os'], 'linux');
  assert.deepEqual(legacyLayers([], Buffer.from('not even json')), []);
});

test('manifest.json, repositories and file names', () => {
  const refs = ['busybox:1', 'busybox:10', 'busybox:2', 'example.com/a/b:x'].map(parseDockerReference);
  assert.equal(configFileName('sha256:' + 'a'.repeat(64)), 'a'.repeat(64) + '.json');
  assert.equal(layerFileName(DIFF_ID), DIFF_ID.slice(7) + '.tar');
  assert.deepEqual(refs.map(repoTagString), ['docker.io/library/busybox:1', 'docker.io/library/busybox:10', 'docker.io/library/busybox:2', 'example.com/a/b:x']);
  // Go map order: byte order, integer-like tags included ("1" < "10" < "2")
  assert.equal(
    repositoriesJson(refs, 'id1').toString(),
    '{"docker.io/library/busybox":{"1":"id1","10":"id1","2":"id1"},"example.com/a/b":{"x":"id1"}}',
  );
  assert.equal(repositoriesJson(refs, undefined).toString(), '{}');
  assert.equal(manifestJson({ config: 'c.json', repoTags: [], layers: ['l.tar'] }).toString(), '[{"Config":"c.json","RepoTags":[],"Layers":["l.tar"]}]');
});

test('raw members and Go compaction of json.RawMessage', () => {
  const m = rawObjectMembers('{ "a" : { "x" : [1, 2] } , "b":"<&>" ,"a":  "last" , "c\\u0041": null }');
  assert.deepEqual([...m.entries()], [
    ['a', '"last"'],
    ['b', '"<&>"'],
    ['cA', 'null'],
  ]);
  assert.equal(goCompact('{ "k" : [ 1 , "a b\\" <x>" ] }'), '{"k":[1,"a b\\" \\u003cx\\u003e"]}');
  assert.equal(goCompact('"\u2028&"'), '"\\u2028\\u0026"');
  assert.throws(() => rawObjectMembers('[1]'), /not a JSON object/);
});
