import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditValue } from './audit-log';
import { hostNameOf, isOpenPath } from './authentication.middleware';
import { jsonShapeRefusal } from './json-body.middleware';
import { chooseRequestId } from './request-observer';

describe('the open routes of a shared service', () => {
  it('are exact paths: probes, the OpenAPI document, the docs and their asset files', () => {
    for (const p of ['/healthz', '/readyz', '/openapi.json', '/openapi.yaml', '/docs', '/docs/', '/docs/swagger-ui.css', '/docs/swagger-ui-init.js', '/docs/favicon-32x32.png']) {
      assert.ok(isOpenPath(p, { metricsPublic: false }), p);
    }
    for (const p of ['/HEALTHZ', '/healthz/', '//healthz', '/healthz/../v1/credentials', '/docs/../v1/credentials', '/docs/..', '/docs/.env', '/docs/a/b', '/docs%2F..%2Fv1', '/metrics', '/v1/credentials', '', '*', 'http://x/healthz']) {
      assert.ok(!isOpenPath(p, { metricsPublic: false }), p);
    }
    assert.ok(isOpenPath('/metrics', { metricsPublic: true }));
    assert.ok(!isOpenPath('/Metrics', { metricsPublic: true }));
  });
});

describe('hostNameOf (the Host check)', () => {
  it('takes the name without port or brackets, lower-cased; refuses what is not a host', () => {
    assert.equal(hostNameOf('LocalHost:8080'), 'localhost');
    assert.equal(hostNameOf('[::1]:80'), '::1');
    assert.equal(hostNameOf('127.0.0.1'), '127.0.0.1');
    assert.equal(hostNameOf('a:b:c'), undefined);
    assert.equal(hostNameOf('x:99999999'), undefined);
  });
});

describe('jsonShapeRefusal', () => {
  const limits = { maxDepth: 3, maxMembers: 4, maxValues: 6 };
  it('bounds nesting, members of one container and members in all; brackets and commas in strings do not count', () => {
    assert.equal(jsonShapeRefusal('{"a":[1,{"b":2}]}', limits), undefined);
    assert.equal(jsonShapeRefusal('{"a":"[[[[{{{{,,,,,,,,\\"}"}', limits), undefined);
    assert.match(jsonShapeRefusal('[[[[1]]]]', limits) ?? '', /deeper than 3/);
    assert.match(jsonShapeRefusal('[1,2,3,4,5]', limits) ?? '', /more than 4 members/);
    assert.match(jsonShapeRefusal('[[1,2,3],[1,2,3],[1,2]]', limits) ?? '', /more than 6 values/);
    assert.match(jsonShapeRefusal('['.repeat(1_000_000), { ...limits, maxDepth: 32 }) ?? '', /deeper than 32/);
  });
});

describe('request ids and audit values', () => {
  it('keeps a sane X-Request-Id, replaces anything else', () => {
    assert.equal(chooseRequestId('abc-123'), 'abc-123');
    assert.equal(chooseRequestId(['first', 'second']), 'first');
    for (const bad of [undefined, '', ' x', 'a'.repeat(129), 'x\ny', '-x']) assert.match(chooseRequestId(bad), /^[0-9a-f-]{36}$/);
  });

  it('keeps references in the audit log bounded and without user:password before a host', () => {
    assert.equal(auditValue('docker://user:pass@registry.example/app:1'), 'docker://[redacted]@registry.example/app:1');
    assert.equal(auditValue('user:pass@registry.example/app:1'), '[redacted]@registry.example/app:1');
    assert.equal(auditValue('docker://registry.example/app@sha256:abc'), 'docker://registry.example/app@sha256:abc');
    assert.equal(auditValue('oci:layout:@0'), 'oci:layout:@0');
    assert.equal(auditValue('x'.repeat(600))?.length, 513);
    // userinfo longer than the bound: redacted before the value is cut, not logged half
    const long = auditValue(`docker://user:${'s'.repeat(600)}@registry.example/app:1`);
    assert.equal(long, 'docker://[redacted]@registry.example/app:1');
    assert.doesNotMatch(auditValue(`${'s'.repeat(600)}@registry.example/app:1`) ?? '', /s{8}/);
    assert.equal(auditValue(42), undefined);
  });
});
