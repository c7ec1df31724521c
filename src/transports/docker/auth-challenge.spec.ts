import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate } from './auth-challenge';

test('parses a bearer challenge with quoted params', () => {
  const [c] = parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
  assert.deepEqual(c, { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } });
});

test('parses basic and several challenges', () => {
  const cs = parseWwwAuthenticate(['Basic realm="Registry Realm"', 'Bearer realm="x", error="invalid_token"']);
  assert.equal(cs.length, 2);
  assert.equal(cs[0]!.scheme, 'basic');
  assert.equal(cs[1]!.params['error'], 'invalid_token');
});

test('tolerates escapes and garbage', () => {
  const [c] = parseWwwAuthenticate('Bearer realm="a\\"b"');
  assert.equal(c!.params['realm'], 'a"b');
  assert.deepEqual(parseWwwAuthenticate(undefined), []);
  assert.deepEqual(parseWwwAuthenticate('==='), []);
});

// Upstream headers are hostile input: linear time, bounded output. The timeout only turns a
// hang into a failure (no timing assertion).
test('hostile WWW-Authenticate headers of 100 KB end quickly with bounded challenges', { timeout: 20_000 }, () => {
  const hostile = [
    'Bearer ' + 'realm="x",'.repeat(10_000),
    'Bearer realm="' + '\\"'.repeat(50_000) + '"',
    'Bearer realm="' + 'a'.repeat(100_000),
    'Basic, '.repeat(15_000),
    ', '.repeat(50_000),
    '='.repeat(100_000),
    'Bearer ' + 'a=b '.repeat(25_000),
    ';  x'.repeat(25_000),
  ];
  for (const h of hostile) {
    const cs = parseWwwAuthenticate(h);
    assert.ok(cs.length <= 16, `${cs.length} challenges`);
    for (const c of cs) assert.ok(Object.keys(c.params).length <= 32);
  }
  assert.equal(parseWwwAuthenticate('Bearer realm="' + '\\"'.repeat(50_000) + '"')[0]!.params['realm']!.length, 50_000);
});

test('escapes inside quoted values are kept as the character they escape', () => {
  assert.equal(parseWwwAuthenticate('Bearer realm="a\\\\b\\"c",service="s"')[0]!.params['realm'], 'a\\b"c');
});
