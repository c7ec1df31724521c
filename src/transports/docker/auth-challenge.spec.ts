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
