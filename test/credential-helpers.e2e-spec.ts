/**
 * Credentials from an external docker config.json (REGISTRY_AUTH_FILE): base64 `auths`
 * entries and `credHelpers` backed by real `docker-credential-*` executables that this test
 * writes into a directory put first on the service's PATH. Against real basic-auth registries
 * (HTTPS with the test CA), with no X-Registry-Auth header on any request. Secrets must never
 * reach an answer or the service log.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeLayer, pushImage, type PushedImage } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const T = { timeout: 20_000 };

/** A: `auths` entry; B: credHelpers → skifftest; E: credHelpers → a helper without credentials. */
let regA: TestRegistry;
let regB: TestRegistry;
let regE: TestRegistry;
let svc: SkiffService;
let imgA: PushedImage;
let imgB: PushedImage;
let helperLog: string;
/** Hosts mapped to helpers that fail; no connection is made to them. */
let missingHost: string;
let brokenHost: string;
let failingHost: string;
const FAILING_SECRET = 'helper-secret-' + 'f00dfeed';

const inspect = (host: string, repo: string) => svc.api.GET('/v1/images/inspect', { params: { query: { image: `docker://${host}/${repo}` } } });

function writeHelper(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

before(async () => {
  [regA, regB, regE] = await Promise.all([startRegistry({ mode: 'basic' }), startRegistry({ mode: 'basic' }), startRegistry({ mode: 'basic' })]);
  const layers = [makeLayer({ 'etc/motd': 'hello\n' })];
  [imgA, imgB] = await Promise.all(
    [regA, regB].map((reg) => pushImage(reg, 'private/app', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'oci' })),
  );
  await pushImage(regE, 'private/app', 'v1', { layers, os: 'linux', architecture: 'amd64', format: 'oci' });
  missingHost = `localhost:${regA.port}`;
  brokenHost = `localhost:${regB.port}`;
  failingHost = `localhost:${regE.port}`;

  const dir = makeTmpDirSync('skiff-credhelpers-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  helperLog = join(dir, 'helper-requests.log');
  writeFileSync(helperLog, '');
  // The docker credential helper protocol, `get` only: the server URL on stdin, JSON on stdout;
  // "credentials not found" (exit 1) when the helper has nothing for that server.
  writeHelper(
    bin,
    'skifftest',
    [
      '[ "$1" = get ] || { echo "unsupported action $1" >&2; exit 1; }',
      'server=$(cat)',
      `printf '%s\\n' "$server" >> '${helperLog}'`,
      'case "$server" in',
      `  '${regB.host}') printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${regB.username}' '${regB.password}' ;;`,
      '  *) echo "credentials not found in native keychain"; exit 1 ;;',
      'esac',
    ].join('\n'),
  );
  writeHelper(bin, 'skiffnone', 'cat >/dev/null\necho "credentials not found in native keychain"\nexit 1');
  writeHelper(bin, 'skiffbroken', 'cat >/dev/null\necho "{not json"');
  writeHelper(bin, 'skifffail', `cat >/dev/null\necho "${FAILING_SECRET}"\necho "boom ${FAILING_SECRET}" >&2\nexit 2`);

  const authFile = join(dir, 'config.json');
  writeFileSync(
    authFile,
    JSON.stringify({
      auths: { [regA.host]: { auth: Buffer.from(`${regA.username}:${regA.password}`).toString('base64') } },
      credHelpers: {
        [regB.host]: 'skifftest',
        [regE.host]: 'skiffnone',
        [missingHost]: 'skiffmissing',
        [brokenHost]: 'skiffbroken',
        [failingHost]: 'skifffail',
      },
    }),
  );
  const regConf = join(dir, 'registries.yaml');
  writeFileSync(regConf, `registries:\n${[regA, regB, regE].map((r) => `  - location: "${r.host}"\n    ca: ${r.caFile}\n`).join('')}`);
  svc = await startSkiff({ REGISTRY_AUTH_FILE: authFile, SKIFF_REGISTRIES_CONFIG: regConf, PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}` });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('external credentials (REGISTRY_AUTH_FILE)', { concurrency: true }, () => {
  it('an `auths` entry (base64 user:password) authenticates inspect without any header', T, async () => {
    const { data, response, error } = await inspect(regA.host, 'private/app:v1');
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.equal((data as { Digest: string }).Digest, imgA.digest);
  });

  it('a credHelpers entry runs docker-credential-NAME get with the registry on stdin', T, async () => {
    const { data, response, error } = await inspect(regB.host, 'private/app:v1');
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.equal((data as { Digest: string }).Digest, imgB.digest);
    const asked = readFileSync(helperLog, 'utf8').split('\n').filter(Boolean);
    assert.ok(asked.length >= 1 && asked.every((s) => s === regB.host), JSON.stringify(asked));
    const tags = await svc.api.GET('/v1/images/tags', { params: { query: { repository: `docker://${regB.host}/private/app` } } });
    assert.equal(tags.response.status, 200, JSON.stringify(tags.error));
    assert.deepEqual((tags.data as { Tags: string[] }).Tags, ['v1']);
  });

  it('a helper that is not installed → 502 CREDENTIAL_HELPER_FAILED naming it', T, async () => {
    const { response, error } = await inspect(missingHost, 'private/app:v1');
    const p = error as Record<string, unknown>;
    assert.equal(response.status, 502, JSON.stringify(p));
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(p['code'], 'CREDENTIAL_HELPER_FAILED');
    assert.match(String(p['detail']), /docker-credential-skiffmissing/);
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200, 'the service is still up');
  });

  it('a helper answering something that is not JSON → 502 CREDENTIAL_HELPER_FAILED', T, async () => {
    const { response, error } = await inspect(brokenHost, 'private/app:v1');
    assert.equal(response.status, 502, JSON.stringify(error));
    assert.equal((error as Record<string, unknown>)['code'], 'CREDENTIAL_HELPER_FAILED');
  });

  it('a failing helper → 502 CREDENTIAL_HELPER_FAILED that repeats nothing the helper printed', T, async () => {
    const { response, error } = await inspect(failingHost, 'private/app:v1');
    assert.equal(response.status, 502, JSON.stringify(error));
    assert.equal((error as Record<string, unknown>)['code'], 'CREDENTIAL_HELPER_FAILED');
    assert.doesNotMatch(JSON.stringify(error), new RegExp(FAILING_SECRET));
  });

  it('a helper without credentials for the registry → anonymous, which the registry denies (403)', T, async () => {
    const { response, error } = await inspect(regE.host, 'private/app:v1');
    assert.equal(response.status, 403, JSON.stringify(error));
    assert.equal((error as Record<string, unknown>)['code'], 'REGISTRY_DENIED');
  });

  it('GET /v1/credentials lists the external entries (source "external") without secrets', T, async () => {
    const { data, response } = await svc.api.GET('/v1/credentials');
    assert.equal(response.status, 200);
    const list = data as { registry: string; username: string; source: string }[];
    assert.deepEqual(
      list.find((c) => c.registry === regA.host),
      { registry: regA.host, username: regA.username, source: 'external' },
    );
    const text = JSON.stringify(list);
    for (const secret of [regA.password!, regB.password!, Buffer.from(`${regA.username}:${regA.password}`).toString('base64')]) {
      assert.ok(!text.includes(secret), 'no secret in the list');
    }
  });
});

describe('secrets stay out of the log', () => {
  it('the service log never contains a password, an auth string or helper output', T, async () => {
    const log = svc.log();
    if (process.env['PEEK']) console.log(log);
    assert.ok(log.length > 0);
    for (const secret of [
      regA.password!,
      regB.password!,
      Buffer.from(`${regA.username}:${regA.password}`).toString('base64'),
      Buffer.from(`${regB.username}:${regB.password}`).toString('base64'),
      FAILING_SECRET,
    ]) {
      assert.ok(!log.includes(secret), `the log contains a secret (${secret.slice(0, 4)}…)`);
    }
  });
});
