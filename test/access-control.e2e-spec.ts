/**
 * skiff as a shared service: deny by default over every route of the OpenAPI document in
 * many spellings, principals with scopes and reference patterns, stored credentials that say
 * who may use them, opt-in engine transports, the per-principal rate limit, what callers
 * without a token may see, and the audit log. Several principals against real registries.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeLayer, pushImage, sha256Hex } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { REPO_ROOT, startSkiff, type SkiffService } from './support/skiff-service';
import { makeTmpDirSync } from './support/tmp';

const TOKENS = {
  admin: 'admin-token-0123456789abcdef',
  teamA: 'team-a-token-0123456789abcdef',
  reader: 'reader-token-0123456789abcdef',
  legacy: 'legacy-api-token-0123456789',
} as const;

let plain: TestRegistry;
let basic: TestRegistry;
let svc: SkiffService;
let work: string;
let auditFile: string;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { code?: string; detail?: string };
}

async function call(service: SkiffService, token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Answer['body'] = {};
  try {
    parsed = text ? (JSON.parse(text) as Answer['body']) : {};
  } catch {
    parsed = { text } as Answer['body'];
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** One request with the path exactly as given (no URL normalisation, unlike fetch). */
function rawRequest(service: SkiffService, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { port } = new URL(service.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: Number(port), method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const inspectPath = (image: string) => `/v1/images/inspect?${new URLSearchParams({ image, tlsVerify: 'false', noTags: 'true' })}`;

before(async () => {
  [plain, basic] = await Promise.all([startRegistry({ mode: 'plain', deleteEnabled: true }), startRegistry({ mode: 'basic' })]);
  const layers = [makeLayer({ 'etc/team': 'a\n' })];
  await Promise.all([
    pushImage(plain, 'team-a/app', '1.0', { layers, os: 'linux', architecture: 'amd64', format: 'oci' }),
    pushImage(plain, 'team-a/app', '1.1', { layers, os: 'linux', architecture: 'amd64', format: 'oci' }),
    pushImage(plain, 'team-b/app', '1.0', { layers, os: 'linux', architecture: 'amd64', format: 'oci' }),
    pushImage(basic, 'team-a/secret', '1.0', { layers, os: 'linux', architecture: 'amd64', format: 'oci' }),
  ]);
  work = makeTmpDirSync('skiff-access-');
  auditFile = join(work, 'audit.log');
  const principals = join(work, 'principals.yaml');
  writeFileSync(
    principals,
    [
      'principals:',
      `  - name: admin`,
      `    tokenSha256: ${sha256Hex(TOKENS.admin)}`,
      `    scopes: [images:read, images:write, images:delete, operations:read-all, credentials:admin]`,
      `  - name: team-a`,
      `    tokenSha256: ${sha256Hex(TOKENS.teamA)}`,
      `    scopes: [images:read, images:write]`,
      `    sources: ["docker://${plain.host}/team-a/**", "docker://${basic.host}/team-a/**", "oci:team-a/**"]`,
      `    destinations: ["docker://${plain.host}/team-a/**", "oci:team-a/**"]`,
      `  - name: reader`,
      `    tokenSha256: ${sha256Hex(TOKENS.reader)}`,
      `    scopes: [images:read]`,
      `    sources: ["docker://${plain.host}/**", "docker://${basic.host}/**"]`,
      '',
    ].join('\n'),
  );
  const regConf = join(work, 'registries.yaml');
  // shared mode reaches loopback registries only when the registries file allows them
  writeFileSync(regConf, `registries:\n  - location: "${basic.host}"\n    ca: ${basic.caFile}\negress:\n  allowNetworks: ["127.0.0.0/8"]\n`);
  svc = await startSkiff({
    SKIFF_PRINCIPALS_FILE: principals,
    SKIFF_API_TOKENS: TOKENS.legacy,
    SKIFF_REGISTRIES_CONFIG: regConf,
    SKIFF_AUDIT_LOG: auditFile,
    SKIFF_STORAGE_ROOT: join(work, 'storage'),
    // the guard tests below send hundreds of bad tokens on purpose; the limit is tested on its own instance
    SKIFF_AUTH_FAILURES_PER_MINUTE: '0',
  });
});

after(async () => {
  await svc?.stop();
  await stopAll();
});

describe('deny by default', () => {
  const document = JSON.parse(readFileSync(join(REPO_ROOT, 'openapi/openapi.json'), 'utf8')) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  const OPEN = new Set(['/healthz', '/readyz']);
  const concrete = (path: string) => path.replace('{id}', '01JDQ3X4M5N6P7Q8R9S0T1V2W3').replace('{registry}', 'registry.example');
  /** The ways a path may be spelled to slip past a guard that compares strings. */
  const spellings = (p: string): string[] => {
    const q = p.includes('images') ? '?image=docker://busybox&repository=docker://busybox' : '';
    const rest = p.slice('/v1/'.length);
    return [
      p + q,
      p.toUpperCase() + q,
      '/V1/' + rest + q,
      '/v1/' + rest.charAt(0).toUpperCase() + rest.slice(1) + q,
      p + '/' + q,
      '/v1//' + rest + q,
      '//v1/' + rest + q,
      p.replace(/\//g, '%2F') + q,
      '/v1%2F' + rest + q,
      '/%76' + p.slice(2) + q,
      '/%761/' + rest + q,
      '/v1/./' + rest + q,
      '/v1/../v1/' + rest + q,
      '/./v1/' + rest + q,
      '/docs/../v1/' + rest + q,
      '/healthz/../v1/' + rest + q,
      `${svc.url}${p}${q}`,
    ];
  };

  it('every route of the OpenAPI document but the probes needs a token, in every spelling, with any method', async () => {
    const protectedRoutes = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter(() => !OPEN.has(path))
        .map((method) => ({ path, method: method.toUpperCase(), declared: ops[method]!.security })),
    );
    assert.ok(protectedRoutes.length >= 14, `found ${protectedRoutes.length} routes`);
    let tried = 0;
    for (const { path, method, declared } of protectedRoutes) {
      if (path !== '/metrics') assert.deepEqual(declared, [{ apiToken: [] }], `${method} ${path} declares the bearer token`);
      for (const spelling of spellings(concrete(path))) {
        for (const m of new Set([method, method === 'GET' ? 'HEAD' : 'OPTIONS'])) {
          const auths: Record<string, string>[] = [{}, { authorization: 'Bearer not-a-token-of-anyone-000000' }, { authorization: `Basic ${Buffer.from(`x:${TOKENS.admin}`).toString('base64')}` }, { authorization: TOKENS.admin }];
          for (const auth of auths) {
            const r = await rawRequest(svc, m, spelling, auth);
            tried++;
            assert.ok(r.status === 401 || r.status === 404 || r.status === 400, `${m} ${spelling} ${JSON.stringify(auth)} answered ${r.status}: ${r.body.slice(0, 200)}`);
            assert.notEqual(r.status, 404, `${m} ${spelling}: an unknown route without a valid token is 401, not 404`);
          }
        }
      }
    }
    assert.ok(tried > 500);
  });

  it('unknown routes and methods without a token are 401 problems; with a token, 404', async () => {
    for (const p of ['/v1/nothing-here', '/v2/', '/admin', '/', '/metrics', '/v1/credentials/x/y', '/docs/../../etc/passwd']) {
      const none = await rawRequest(svc, 'GET', p);
      assert.equal(none.status, 401, p);
      assert.equal((JSON.parse(none.body) as { code: string }).code, 'UNAUTHORIZED');
    }
    const patch = await rawRequest(svc, 'PATCH', '/v1/copies');
    assert.equal(patch.status, 401);
    const known = await call(svc, TOKENS.reader, 'GET', '/v1/nothing-here');
    assert.equal(known.status, 404);
    assert.equal(known.body.code, 'NOT_FOUND');
    const upper = await call(svc, TOKENS.reader, 'GET', '/V1/credentials');
    assert.equal(upper.status, 404, 'routes match case-sensitively');
  });

  it('the probes and the docs stay open; /metrics needs a token here', async () => {
    for (const p of ['/healthz', '/readyz', '/docs', '/openapi.json', '/openapi.yaml', '/docs/swagger-ui.css']) {
      assert.equal((await rawRequest(svc, 'GET', p)).status, 200, p);
    }
    assert.equal((await call(svc, undefined, 'GET', '/metrics')).status, 401);
    assert.equal((await call(svc, TOKENS.reader, 'GET', '/metrics')).status, 200);
  });

  it('SKIFF_API_TOKENS still work, as full-access principals', async () => {
    const r = await call(svc, TOKENS.legacy, 'GET', inspectPath(`docker://${plain.host}/team-b/app:1.0`));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
});

describe('principals, scopes and reference patterns', () => {
  it('a reader inspects and lists tags, but may not delete, copy, sync or store credentials: 403 naming the scope', async () => {
    assert.equal((await call(svc, TOKENS.reader, 'GET', inspectPath(`docker://${plain.host}/team-a/app:1.0`))).status, 200);
    const tags = await call(svc, TOKENS.reader, 'GET', `/v1/images/tags?repository=docker://${plain.host}/team-a/app&tlsVerify=false`);
    assert.deepEqual((tags.body['Tags'] as string[]).sort(), ['1.0', '1.1']);
    const cases: [string, string, unknown, string][] = [
      ['DELETE', `/v1/images?image=docker://${plain.host}/team-a/app:1.1&tlsVerify=false`, undefined, 'images:delete'],
      ['POST', '/v1/copies', { source: `docker://${plain.host}/team-a/app:1.0`, destination: `docker://${plain.host}/team-a/x:1` }, 'images:write'],
      ['POST', '/v1/syncs', { source: `${plain.host}/team-a/app`, sourceType: 'docker', destination: `${plain.host}/team-a/m`, destinationType: 'docker' }, 'images:write'],
      ['PUT', `/v1/credentials/${basic.host}`, { username: 'x', password: 'y' }, 'credentials:admin'],
      ['DELETE', `/v1/credentials/${basic.host}`, undefined, 'credentials:admin'],
    ];
    for (const [method, path, body, scope] of cases) {
      const r = await call(svc, TOKENS.reader, method, path, body);
      assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'FORBIDDEN');
      assert.match(String(r.body.detail), new RegExp(`"${scope}" scope, which principal "reader" does not have`));
    }
  });

  it('team-a reads and writes its own references only; a 403 names the reference and the refusing set, never the patterns', async () => {
    assert.equal((await call(svc, TOKENS.teamA, 'GET', inspectPath(`docker://${plain.host}/team-a/app:1.0`))).status, 200);
    const other = await call(svc, TOKENS.teamA, 'GET', inspectPath(`docker://${plain.host}/team-b/app:1.0`));
    assert.equal(other.status, 403);
    assert.equal(other.body.detail, `source docker://${plain.host}/team-b/app:1.0 is outside the source patterns of principal team-a`);
    assert.ok(!JSON.stringify(other.body).includes('**'), 'no pattern is disclosed');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ source: `docker://${plain.host}/team-a/app:1.0`, destination: `docker://${plain.host}/team-b/app:2` }, /^destination docker:\/\/.*\/team-b\/app:2 is outside the destination patterns of principal team-a$/],
      [{ source: `docker://${plain.host}/team-b/app:1.0`, destination: `docker://${plain.host}/team-a/app:2` }, /^source .*team-b.* is outside the source patterns/],
      [{ source: `docker://${plain.host}/team-a/app:1.0`, destination: 'oci:team-a/../team-b/layout:x' }, /^destination oci:team-b\/layout:x is outside the destination patterns/],
      [{ source: `docker://${plain.host}/team-a/app:1.0`, destination: 'docker://TEAM-A.example/team-a/app:1' }, /outside the destination patterns/],
    ];
    for (const [body, detail] of cases) {
      const r = await call(svc, TOKENS.teamA, 'POST', '/v1/copies', body);
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.match(String(r.body.detail), detail);
    }
    const del = await call(svc, TOKENS.teamA, 'DELETE', `/v1/images?image=docker://${plain.host}/team-a/app:1.1&tlsVerify=false`);
    assert.equal(del.status, 403, 'team-a has no images:delete');
  });

  it('team-a copies inside its namespace; the copy runs and succeeds', async () => {
    const r = await call(svc, TOKENS.teamA, 'POST', '/v1/copies', { source: `docker://${plain.host}/team-a/app:1.0`, destination: 'oci:team-a/layout:v1', sourceTlsVerify: false }, { prefer: 'wait=60' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body['state'], 'succeeded', JSON.stringify(r.body));
    assert.equal((await call(svc, TOKENS.teamA, 'GET', inspectPath('oci:team-a/layout:v1'))).status, 200);
    assert.equal((await call(svc, TOKENS.teamA, 'GET', inspectPath('oci:team-a/./layout:v1'))).status, 200);
  });

  it('a sync names every source repository and the destination namespace; each is checked', async () => {
    const yaml = (repo: string) => `${plain.host}:\n  tls-verify: false\n  images-by-semver:\n    ${repo}: ">= 1"\n`;
    const outside = await call(svc, TOKENS.teamA, 'POST', '/v1/syncs', { sourceType: 'yaml', yaml: yaml('team-b/app'), destination: `${plain.host}/team-a/mirror`, destinationType: 'docker' });
    assert.equal(outside.status, 403, JSON.stringify(outside.body));
    assert.match(String(outside.body.detail), /^source docker:\/\/.*\/team-b\/app is outside the source patterns of principal team-a$/);
    const namespace = await call(svc, TOKENS.teamA, 'POST', '/v1/syncs', { sourceType: 'yaml', yaml: yaml('team-a/app'), destination: `${plain.host}/team-b`, destinationType: 'docker' });
    assert.equal(namespace.status, 403);
    assert.match(String(namespace.body.detail), /^destination docker:\/\/.*\/team-b\/\*\* is outside the destination patterns/);
    const ok = await call(
      svc,
      TOKENS.teamA,
      'POST',
      '/v1/syncs',
      { sourceType: 'yaml', yaml: yaml('team-a/app'), destination: `${plain.host}/team-a/mirror`, destinationType: 'docker', destinationTlsVerify: false },
      { prefer: 'wait=60' },
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body['state'], 'succeeded', JSON.stringify(ok.body));
  });

  it('stored credentials are used only by the principals they name; listing shows only those, never a secret', async () => {
    const image = `docker://${basic.host}/team-a/secret:1.0`;
    const before = await call(svc, TOKENS.teamA, 'GET', inspectPath(image).replace('&tlsVerify=false', ''));
    assert.equal(before.status, 403, 'no credentials yet');
    assert.equal(before.body.code, 'REGISTRY_DENIED');
    const unknown = await call(svc, TOKENS.admin, 'PUT', `/v1/credentials/${basic.host}`, { username: basic.username, password: basic.password, usableBy: ['team-z'] });
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.detail), /no principal is named "team-z"/);
    const put = await call(svc, TOKENS.admin, 'PUT', `/v1/credentials/${basic.host}`, { username: basic.username, password: basic.password, usableBy: ['team-a'] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body, { registry: basic.host, username: basic.username, source: 'stored', usableBy: ['team-a'] });
    const withStored = await call(svc, TOKENS.teamA, 'GET', inspectPath(image).replace('&tlsVerify=false', ''));
    assert.equal(withStored.status, 200, JSON.stringify(withStored.body));
    // an operation runs in its submitter's name: the copy uses team-a's stored credentials
    const copy = await call(svc, TOKENS.teamA, 'POST', '/v1/copies', { source: image, destination: 'oci:team-a/secret:v1' }, { prefer: 'wait=60' });
    assert.equal(copy.body['state'], 'succeeded', JSON.stringify(copy.body));
    const readerTry = await call(svc, TOKENS.reader, 'GET', inspectPath(image).replace('&tlsVerify=false', ''));
    assert.equal(readerTry.status, 403, 'the reader may not use team-a\'s credentials');
    const adminTry = await call(svc, TOKENS.admin, 'GET', inspectPath(image).replace('&tlsVerify=false', ''));
    assert.equal(adminTry.status, 403, 'an explicit usableBy replaces the default (the admins)');
    assert.deepEqual((await call(svc, TOKENS.teamA, 'GET', '/v1/credentials')).body, [{ registry: basic.host, username: basic.username, source: 'stored' }] as unknown);
    assert.deepEqual((await call(svc, TOKENS.reader, 'GET', '/v1/credentials')).body, [] as unknown);
    assert.deepEqual((await call(svc, TOKENS.admin, 'GET', '/v1/credentials')).body, [{ registry: basic.host, username: basic.username, source: 'stored', usableBy: ['team-a'] }] as unknown);
    const stored = readFileSync(join(svc.dataDir, 'auth.json'), 'utf8');
    assert.match(stored, /"usableBy"/);
    // default: the admins only
    const again = await call(svc, TOKENS.admin, 'PUT', `/v1/credentials/${basic.host}`, { username: basic.username, password: basic.password });
    assert.equal(again.status, 200);
    assert.equal((await call(svc, TOKENS.admin, 'GET', inspectPath(image).replace('&tlsVerify=false', ''))).status, 200);
    assert.equal((await call(svc, TOKENS.teamA, 'GET', inspectPath(image).replace('&tlsVerify=false', ''))).status, 403);
    assert.equal((await call(svc, TOKENS.admin, 'DELETE', `/v1/credentials/${basic.host}`)).status, 204);
  });

  it('the engine transports are disabled by default: 403 TRANSPORT_DISABLED naming the setting', async () => {
    for (const image of ['docker-daemon:busybox:latest', 'containers-storage:busybox:latest']) {
      const r = await call(svc, TOKENS.admin, 'GET', inspectPath(image));
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.code, 'TRANSPORT_DISABLED');
      assert.match(String(r.body.detail), /SKIFF_TRANSPORTS/);
    }
    const copy = await call(svc, TOKENS.admin, 'POST', '/v1/copies', { source: `docker://${plain.host}/team-a/app:1.0`, destination: 'docker-daemon:team-a/app:1' });
    assert.equal(copy.body.code, 'TRANSPORT_DISABLED');
  });

  it('problems carry the request id; a sane caller id is kept, anything else replaced', async () => {
    const kept = await call(svc, TOKENS.reader, 'DELETE', '/v1/images?image=docker://x/y:1', undefined, { 'x-request-id': 'portal-42.abc' });
    assert.equal(kept.headers.get('x-request-id'), 'portal-42.abc');
    assert.equal(kept.body['requestId'], 'portal-42.abc');
    const replaced = await call(svc, undefined, 'GET', '/v1/credentials', undefined, { 'x-request-id': 'bad id\twith blanks' });
    assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(replaced.body['requestId'], replaced.headers.get('x-request-id'));
  });

  it('writes an audit line for every mutating call, refused ones included, and never a secret', async () => {
    const noToken = await call(svc, undefined, 'POST', '/v1/copies', { source: 'docker://a/b:1', destination: 'docker://a/c:1' });
    assert.equal(noToken.status, 401);
    await new Promise((r) => setTimeout(r, 200));
    const lines = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.every((l) => l['log'] === 'audit' && typeof l['requestId'] === 'string' && typeof l['time'] === 'string'));
    const find = (pred: (l: Record<string, unknown>) => boolean, what: string) => {
      const l = lines.find(pred);
      assert.ok(l, `no audit line for ${what}`);
      return l;
    };
    const copy = find((l) => l['principal'] === 'team-a' && l['action'] === 'POST /v1/copies' && l['outcome'] === 'ok', 'the accepted copy');
    assert.match(String(copy['operationId']), /^[0-9A-Z]{26}$/);
    assert.equal((copy['references'] as Record<string, string>)['destination'], 'oci:team-a/layout:v1');
    const forbidden = find((l) => l['principal'] === 'reader' && l['action'] === 'DELETE /v1/images', 'the refused delete');
    assert.equal(forbidden['outcome'], 'refused');
    assert.equal(forbidden['code'], 'FORBIDDEN');
    find((l) => l['principal'] === 'anonymous' && l['status'] === 401 && l['code'] === 'UNAUTHORIZED', 'the call without a token');
    const login = find((l) => l['principal'] === 'admin' && l['action'] === 'PUT /v1/credentials/:registry' && l['outcome'] === 'ok', 'the login');
    assert.equal((login['references'] as Record<string, string>)['registry'], basic.host);
    assert.ok(!lines.some((l) => l['action'] === 'GET /v1/credentials'), 'reads are not audited');
    assert.equal(statSync(auditFile).mode & 0o777, 0o600, 'the audit file is private');
    const text = readFileSync(auditFile, 'utf8');
    for (const secret of [basic.password!, ...Object.values(TOKENS)]) assert.ok(!text.includes(secret), 'a secret reached the audit log');
    assert.ok(!svc.log().includes('"log":"audit"'), 'audit lines go to their own file, not the service log');
  });
});

describe('engine transports, rate limits and what callers without a token see', () => {
  let other: SkiffService;
  before(async () => {
    const principals = join(work, 'principals-2.yaml');
    writeFileSync(
      principals,
      `principals:\n  - {name: noisy, tokenSha256: "${sha256Hex(TOKENS.teamA)}", scopes: [images:read]}\n  - {name: calm, tokenSha256: "${sha256Hex(TOKENS.reader)}", scopes: [images:read, daemons]}\n`,
    );
    other = await startSkiff({
      SKIFF_PRINCIPALS_FILE: principals,
      SKIFF_RATE_LIMIT_PER_MINUTE: '5',
      SKIFF_AUTH_FAILURES_PER_MINUTE: '3',
      SKIFF_METRICS_PUBLIC: 'true',
      SKIFF_TRANSPORTS: 'docker,docker-daemon',
      DOCKER_HOST: `unix://${work}/no-docker.sock`,
    });
  });
  after(async () => {
    await other?.stop();
  });

  it('an enabled engine transport still needs the daemons scope', async () => {
    const noisy = await call(other, TOKENS.teamA, 'GET', inspectPath('docker-daemon:busybox:latest'));
    assert.equal(noisy.status, 403);
    assert.match(String(noisy.body.detail), /"daemons" scope, which principal "noisy" does not have/);
    const calm = await call(other, TOKENS.reader, 'GET', inspectPath('docker-daemon:busybox:latest'));
    assert.equal(calm.status, 503, 'allowed, and the (absent) daemon is reached');
    assert.equal(calm.body.code, 'DAEMON_UNAVAILABLE');
    assert.equal((await call(other, TOKENS.reader, 'GET', inspectPath('oci:x'))).body.code, 'TRANSPORT_DISABLED');
  });

  it('a principal over its rate gets 429 with Retry-After; another principal is not affected', async () => {
    let last: Answer | undefined;
    for (let i = 0; i < 8; i++) last = await call(other, TOKENS.teamA, 'GET', '/v1/credentials');
    assert.equal(last!.status, 429);
    assert.equal(last!.body.code, 'TOO_MANY_REQUESTS');
    assert.ok(Number(last!.headers.get('retry-after')) >= 1);
    assert.match(String(last!.body.detail), /principal noisy sent more than 5 requests/);
    const calm = await call(other, TOKENS.reader, 'GET', '/v1/credentials');
    assert.equal(calm.status, 200);
    assert.equal(calm.headers.get('x-ratelimit-limit'), '5');
    assert.equal((await call(other, undefined, 'GET', '/healthz')).status, 200, 'probes are not limited');
  });

  it('/metrics can be opened; /readyz shows check details only to callers with a token', async () => {
    assert.equal((await call(other, undefined, 'GET', '/metrics')).status, 200);
    const anonymous = await call(other, undefined, 'GET', '/readyz');
    const checks = anonymous.body['checks'] as { name: string; detail?: string }[];
    assert.ok(checks.some((c) => c.name === 'dockerDaemon'), 'the enabled daemon is checked');
    assert.ok(!checks.some((c) => c.name === 'podman'), 'a disabled daemon is not');
    assert.ok(checks.every((c) => c.detail === undefined), JSON.stringify(checks));
    assert.ok(!JSON.stringify(anonymous.body).includes(work), 'no path is disclosed');
    const authenticated = await call(other, TOKENS.reader, 'GET', '/readyz');
    assert.ok((authenticated.body['checks'] as { detail?: string }[]).some((c) => c.detail !== undefined));
  });

  // last here: it blocks this (loopback) address for a minute
  it('an address past SKIFF_AUTH_FAILURES_PER_MINUTE bad tokens gets 429 with Retry-After, a valid token included; probes still answer', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await call(other, `not-a-token-${i}-0000000000`, 'GET', '/v1/credentials')).status, 401);
    const refused = await call(other, 'not-a-token-9-0000000000', 'GET', '/v1/credentials');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'TOO_MANY_REQUESTS');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.match(String(refused.body.detail), /failed authentication attempts .*SKIFF_AUTH_FAILURES_PER_MINUTE/);
    assert.equal((await call(other, TOKENS.reader, 'GET', '/v1/credentials')).status, 429, 'the token is not looked at while blocked');
    assert.equal((await call(other, undefined, 'GET', '/healthz')).status, 200);
    assert.equal((await call(other, TOKENS.reader, 'GET', '/readyz')).status, 200);
  });
});
