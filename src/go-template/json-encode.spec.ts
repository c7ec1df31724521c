import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIGEST, bare, inspect, render } from './testing/template-fixture';

describe('renderGoTemplate: skopeo report functions', () => {
  it('json-encodes compactly with sorted map keys and without HTML escaping', () => {
    assert.equal(render('{{json .Labels}}'), '{"alpha":"<a&b>","empty":"","num":"5","zeta":"z"}');
    assert.equal(render('{{json .Env}}|{{json .RepoTags}}|{{json .Os}}|{{json (index .LayersData 1).Size}}'), '["PATH=/usr/bin","A=<b>&c"]|["1.0","latest"]|"linux"|1048576');
  });

  it('json-encodes nil slices, maps and times as null', () => {
    assert.equal(render('{{json .Labels}}|{{json .Env}}|{{json .Created}}|{{json .Labels.x}}|{{json nil}}', bare), 'null|null|null|null|null');
  });

  it('json-encodes times in RFC 3339 with trimmed nanoseconds', () => {
    assert.equal(render('{{json .Created}}'), '"2024-01-02T03:04:05.1234Z"');
    assert.equal(render('{{json .Created}}', { ...inspect, Created: '2024-01-02T03:04:05.500+02:00' }), '"2024-01-02T03:04:05.5+02:00"');
  });

  it('json-encodes the inspect struct like skopeo (omitempty Name/Tag, no Variant)', () => {
    assert.equal(
      render('{{json .}}', bare),
      `{"Digest":"${DIGEST}","RepoTags":[],"Created":null,"DockerVersion":"","Labels":null,"Architecture":"arm64","Os":"linux","Layers":[],"LayersData":[],"Env":null}`,
    );
    assert.equal(render('{{json (index .LayersData 0)}}'), '{"MIMEType":"application/vnd.oci.image.layer.v1.tar+gzip","Digest":"sha256:aaaa","Size":32,"Annotations":null}');
  });

  it('json-escapes control characters and line separators like encoding/json', () => {
    const data = { ...inspect, Labels: { s: 'q"\\\n\t\r\b\f\u0001\u007f\u2028\u2029é😀' } };
    assert.equal(render('{{json .Labels.s}}', data), '"q\\"\\\\\\n\\t\\r\\b\\f\\u0001\u007f\\u2028\\u2029é😀"');
  });

  it('json-encodes floats like encoding/json', () => {
    const data = { ...inspect, Extra: [1.5, 1e21, 1e-7, 0.000001, -0, 123456789.25] };
    assert.equal(render('{{json .Extra}}', data), '[1.5,1e+21,1e-7,0.000001,-0,123456789.25]');
  });
});
