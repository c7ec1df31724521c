/**
 * A shared service as a fleet: two replicas on one real PostgreSQL with a principals file and
 * real tokens. Ownership over HTTP (each principal sees, waits on, streams, cancels and forgets
 * its own operations on any replica, and gets 404 for the other's; operations:read-all sees
 * all; idempotency keys are per principal); stored credentials shared by the replicas, sealed
 * in the database, used by a copy for the principals they name, also when the copy is taken
 * over after its replica died; key rotation; and a replica without a key refusing to store.
 * Copies are slowed with the fault proxy (stalled blob reads), never with sleeps.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SecretBox } from '../src/secrets/secret-box';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pseudoRandomBytes, pushImage, type PushedImage } from './support/images';
import { postgresSkip, startPostgres, type TestPostgres } from './support/postgres';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { skopeo } from './support/skopeo';
import { makeTmpDirSync } from './support/tmp';

const skip = postgresSkip();

const TOKENS = {
  admin: 'fleet-admin-token-0123456789',
  alice: 'fleet-alice-token-0123456789',
  bob: 'fleet-bob-token-0123456789ab',
  operator: 'fleet-operator-token-012345',
} as const;
type Who = keyof typeof TOKENS;
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const KEY1 = '1a'.repeat(32);
const KEY2 = '2b'.repeat(32);
const keyId = (hex: string) => new SecretBox([Buffer.from(hex, 'hex')]).currentKeyId!;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { code?: string; detail?: string; id?: string; state?: string; replicaId?: string; attempts?: number; error?: { code: string } };
}

async function call(svc: SkiffService, who: Who, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

/** Long-polls as `who` until the operation has finished. */
async function finished(svc: SkiffService, who: Who, id: string, seconds = 90): Promise<Answer['body']> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const { status, body } = await call(svc, who, 'GET', `/v1/operations/${id}?waitSeconds=10`);
    assert.equal(status, 200, JSON.stringify(body));
    if (['succeeded', 'failed', 'cancelled'].includes(body.state!)) return body;
    if (Date.now() > deadline) assert.fail(`operation ${id} still ${body.state}`);
  }
}

async function whenRunning(svc: SkiffService, who: Who, id: string): Promise<Answer['body']> {
  for (let i = 0; i < 400; i++) {
    const { body } = await call(svc, who, 'GET', `/v1/operations/${id}`);
    if (body.state === 'running' && body.replicaId) return body;
    if (['succeeded', 'failed', 'cancelled'].includes(body.state!)) assert.fail(`operation ended before it was seen running: ${JSON.stringify(body)}`);
    await sleep(25);
  }
  assert.fail(`operation ${id} never ran`);
}

/** Submits a copy as `who` and follows it to its end (generous bounds: the machine may be loaded). */
async function copyToEnd(svc: SkiffService, who: Who, body: Record<string, unknown>): Promise<Answer['body']> {
  const { status, body: op } = await call(svc, who, 'POST', '/v1/copies', body, { prefer: 'wait=30' });
  assert.ok(status === 200 || status === 202, JSON.stringify(op));
  return status === 200 ? op : finished(svc, who, op.id!, 180);
}

/** The service log once it shows `re` (the log file is written by this process, a little after the service wrote it). */
async function logShowing(svc: SkiffService, re: RegExp): Promise<string> {
  for (let i = 0; i < 200 && !re.test(svc.log()); i++) await sleep(50);
  assert.match(svc.log(), re);
  return svc.log();
}

const notFound = (a: Answer, what: string) => {
  assert.equal(a.status, 404, `${what}: ${JSON.stringify(a.body)}`);
  assert.equal(a.body.code, 'OPERATION_NOT_FOUND', what);
};

describe('two replicas on PostgreSQL with principals: ownership, stored credentials, keys', { skip }, () => {
  let pg: TestPostgres;
  let databaseUrl: string;
  let plain: TestRegistry;
  let basic: TestRegistry;
  let proxy: FaultProxy;
  let image: PushedImage;
  let env: Record<string, string>;
  const live = new Map<string, SkiffService>();
  const replica = (id: string) => live.get(id)!;
  const layerPath = (i: number) => new RegExp(`/blobs/${image.layers[i]!.digest}`);
  const copyToBasic = (repo: string, viaProxy = false) => ({
    source: `docker://${viaProxy ? proxy.host : plain.host}/team/app:v1`,
    destination: `docker://${basic.host}/${repo}:v1`,
    sourceTlsVerify: false,
  });

  async function start(id: string, extra: Record<string, string> = {}, dataDir?: string): Promise<SkiffService> {
    const svc = await startSkiff({ ...env, SKIFF_REPLICA_ID: id, ...extra }, dataDir ? { dataDir } : {});
    live.set(id, svc);
    return svc;
  }

  async function rows(): Promise<{ registry: string; username: string; usable_by: string | null; sealed: string }[]> {
    return (await pg.sql('SELECT * FROM stored_credentials ORDER BY registry', databaseUrl)) as never;
  }

  before(async () => {
    [pg, plain, basic] = await Promise.all([startPostgres(), startRegistry({ mode: 'plain' }), startRegistry({ mode: 'basic' })]);
    proxy = await startFaultProxy(plain.url);
    image = await pushImage(plain, 'team/app', 'v1', {
      layers: Array.from({ length: 2 }, (_, i) => makeLayer({ [`p${i}`]: pseudoRandomBytes(1024 * 1024, `fleet-principals-${i}`) })),
      os: 'linux',
      architecture: 'amd64',
      format: 'oci',
    });
    const work = makeTmpDirSync('skiff-fleet-principals-');
    const principals = join(work, 'principals.yaml');
    const scopes: Record<Who, string> = {
      admin: '[images:read, images:write, credentials:admin]',
      alice: '[images:read, images:write]',
      bob: '[images:read, images:write]',
      operator: '[images:read, operations:read-all]',
    };
    writeFileSync(principals, ['principals:', ...Object.entries(scopes).flatMap(([name, s]) => [`  - name: ${name}`, `    tokenSha256: ${sha(TOKENS[name as Who])}`, `    scopes: ${s}`]), ''].join('\n'));
    const registries = join(work, 'registries.yaml');
    writeFileSync(registries, `registries:\n  - location: "${basic.host}"\n    ca: ${basic.caFile}\negress:\n  allowNetworks: ["127.0.0.0/8"]\n`);
    databaseUrl = await pg.createDatabase('principals');
    env = {
      SKIFF_DATABASE_URL: databaseUrl,
      SKIFF_PRINCIPALS_FILE: principals,
      SKIFF_REGISTRIES_CONFIG: registries,
      SKIFF_SECRET_KEY: KEY1,
    };
    await Promise.all([start('r0'), start('r1')]);
  });

  after(async () => {
    await Promise.all([...live.values()].map((s) => s.stop()));
    await proxy?.close();
    await stopAll();
    await pg?.stop();
  });

  it('each principal reads, waits on, streams, lists, cancels and forgets its own operations on any replica; the other gets 404; operations:read-all sees all', async () => {
    const a = { body: await copyToEnd(replica('r0'), 'alice', { source: `docker://${plain.host}/team/app:v1`, destination: `docker://${plain.host}/alice/app:v1`, sourceTlsVerify: false, destinationTlsVerify: false }) };
    const b = { body: await copyToEnd(replica('r1'), 'bob', { source: `docker://${plain.host}/team/app:v1`, destination: `docker://${plain.host}/bob/app:v1`, sourceTlsVerify: false, destinationTlsVerify: false }) };
    assert.equal(a.body.state, 'succeeded', JSON.stringify(a.body));
    assert.equal(b.body.state, 'succeeded', JSON.stringify(b.body));
    const pairs: [Who, string, string][] = [
      ['alice', a.body.id!, b.body.id!],
      ['bob', b.body.id!, a.body.id!],
    ];
    for (const [who, own, other] of pairs) {
      for (const svc of [replica('r0'), replica('r1')]) {
        assert.equal((await call(svc, who, 'GET', `/v1/operations/${own}`)).status, 200);
        notFound(await call(svc, who, 'GET', `/v1/operations/${other}`), `${who} reads the other's`);
        notFound(await call(svc, who, 'GET', `/v1/operations/${other}?waitSeconds=5`), `${who} waits on the other's`);
        notFound(await call(svc, who, 'GET', `/v1/operations/${other}/events`), `${who} streams the other's`);
        notFound(await call(svc, who, 'POST', `/v1/operations/${other}/cancel`, {}), `${who} cancels the other's`);
        notFound(await call(svc, who, 'DELETE', `/v1/operations/${other}`), `${who} forgets the other's`);
        const listed = (await call(svc, who, 'GET', '/v1/operations?pageSize=100')).body['operations'] as { id: string }[];
        assert.deepEqual(listed.map((o) => o.id), [own], `${who} lists its own only`);
      }
      const events = await fetch(`${replica('r1').url}/v1/operations/${own}/events`, { headers: { authorization: `Bearer ${TOKENS[who]}` } });
      assert.equal(events.status, 200);
      assert.match(await events.text(), /"state":"succeeded"/);
    }
    const all = (await call(replica('r1'), 'operator', 'GET', '/v1/operations?pageSize=100')).body['operations'] as { id: string; owner?: string }[];
    assert.deepEqual(all.map((o) => o.id).sort(), [a.body.id, b.body.id].sort());
    assert.equal((await call(replica('r0'), 'operator', 'GET', `/v1/operations/${b.body.id}`)).status, 200);
    assert.equal((await call(replica('r1'), 'alice', 'DELETE', `/v1/operations/${a.body.id}`)).status, 204);
    notFound(await call(replica('r0'), 'operator', 'GET', `/v1/operations/${a.body.id}`), 'forgotten');
    assert.equal((await call(replica('r0'), 'operator', 'DELETE', `/v1/operations/${b.body.id}`)).status, 204, 'read-all forgets any');
  });

  it("a running copy: the other principal's cancel is 404 and changes nothing; its owner cancels it from another replica", async () => {
    proxy.clearRules();
    proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, action: { kind: 'stall' } });
    const { body } = await call(replica('r0'), 'alice', 'POST', '/v1/copies', { source: `docker://${proxy.host}/team/app:v1`, destination: `docker://${plain.host}/alice/slow:v1`, sourceTlsVerify: false, destinationTlsVerify: false });
    const running = await whenRunning(replica('r0'), 'alice', body.id!);
    notFound(await call(replica('r1'), 'bob', 'POST', `/v1/operations/${body.id}/cancel`, { reason: 'not mine' }), 'bob cancels alice\'s');
    assert.equal((await call(replica('r1'), 'alice', 'GET', `/v1/operations/${body.id}`)).body.state, 'running');
    const other = running.replicaId === 'r0' ? 'r1' : 'r0';
    assert.equal((await call(replica(other), 'alice', 'POST', `/v1/operations/${body.id}/cancel`, { reason: 'mine' })).status, 202);
    assert.equal((await finished(replica(other), 'alice', body.id!)).state, 'cancelled');
    proxy.clearRules();
  });

  it('idempotency keys are per principal, across replicas', async () => {
    const req = { source: `docker://${plain.host}/team/app:v1`, destination: `docker://${plain.host}/idem/app:v1`, sourceTlsVerify: false, destinationTlsVerify: false };
    const key = { 'idempotency-key': `shared-key-${Date.now()}` };
    const a = await call(replica('r0'), 'alice', 'POST', '/v1/copies', req, key);
    const b = await call(replica('r1'), 'bob', 'POST', '/v1/copies', req, key);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202, 'the same key of another principal is another operation');
    assert.notEqual(b.body.id, a.body.id);
    const again = await call(replica('r1'), 'alice', 'POST', '/v1/copies', req, key);
    assert.equal(again.body.id, a.body.id);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const reused = await call(replica('r0'), 'bob', 'POST', '/v1/copies', { ...req, destination: `docker://${plain.host}/idem/other:v1` }, key);
    assert.equal(reused.status, 422);
    assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');
    for (const [who, id] of [['alice', a.body.id], ['bob', b.body.id]] as const) assert.equal((await finished(replica('r0'), who, id!)).state, 'succeeded');
  });

  it('a login stored through one replica is sealed in the database and used at once by the other, for the principals it names only', async () => {
    const put = await call(replica('r0'), 'admin', 'PUT', `/v1/credentials/${basic.host}`, { username: basic.username, password: basic.password, usableBy: ['alice'] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const [row, ...more] = await rows();
    assert.equal(more.length, 0);
    assert.deepEqual([row!.registry, row!.username, row!.usable_by], [basic.host, basic.username, '["alice"]']);
    assert.ok(row!.sealed.startsWith(`v1.${keyId(KEY1)}.`), row!.sealed.slice(0, 12));
    const table = JSON.stringify(await pg.sql('SELECT * FROM stored_credentials', databaseUrl));
    assert.ok(!table.includes(basic.password!) && !table.includes(Buffer.from(`${basic.username}:${basic.password}`).toString('base64')), 'no secret in the table');
    const inspect = `/v1/images/inspect?${new URLSearchParams({ image: `docker://${basic.host}/none/yet:v1`, noTags: 'true' })}`;
    // a missing image answers 404 only to a caller whose login the registry accepted (else 403)
    assert.equal((await call(replica('r1'), 'alice', 'GET', inspect)).body.code, 'IMAGE_NOT_FOUND', 'the other replica uses it at once');
    assert.equal((await call(replica('r1'), 'bob', 'GET', inspect)).status, 403, 'not for bob');
    assert.deepEqual((await call(replica('r1'), 'admin', 'GET', '/v1/credentials')).body, [{ registry: basic.host, username: basic.username, source: 'stored', usableBy: ['alice'] }] as unknown);
    // with r0 gone, the copy can only run on r1
    await replica('r0').stop();
    live.delete('r0');
    const mine = await copyToEnd(replica('r1'), 'alice', copyToBasic('alice/app'));
    assert.equal(mine.state, 'succeeded', JSON.stringify(mine));
    assert.equal(mine.replicaId, 'r1');
    const theirs = await copyToEnd(replica('r1'), 'bob', copyToBasic('bob/app'));
    assert.equal(theirs.state, 'failed', JSON.stringify(theirs));
    assert.equal(theirs.error?.code, 'REGISTRY_DENIED');
    for (const svc of live.values()) assert.ok(!svc.log().includes(basic.password!), 'the password is in no log');
  });

  it("a copy taken over after its replica was killed and restarted runs with its owner's stored login (the owner is in the record)", async () => {
    await start('r0');
    proxy.clearRules();
    for (let i = 0; i < image.layers.length; i++) proxy.addRule({ method: 'GET', path: layerPath(i), times: 1, action: { kind: 'stall' } });
    const { body } = await call(replica('r1'), 'alice', 'POST', '/v1/copies', copyToBasic('alice/takeover', true));
    const running = await whenRunning(replica('r1'), 'alice', body.id!);
    for (let i = 0; i < 400 && proxy.requests.filter((r) => r.status === 'stalled').length < image.layers.length; i++) await sleep(25);
    const victim = replica(running.replicaId!);
    await victim.kill();
    // Restarted under its id, it hands back at once what its killed run held.
    await start(running.replicaId!, {}, victim.dataDir);
    const done = await finished(replica('r0'), 'alice', body.id!, 180);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.attempts, 2);
    const r = await skopeo(['inspect', '--raw', '--cert-dir', basic.certDir!, '--creds', `${basic.username}:${basic.password}`, `docker://${basic.host}/alice/takeover:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal('sha256:' + createHash('sha256').update(r.stdoutBytes).digest('hex'), image.digest);
    proxy.clearRules();
  });

  it('key rotation: started with "key2,key1", a replica reads what key 1 sealed, seals it again under key 2 at start, and writes under key 2', async () => {
    await Promise.all([...live.values()].map((s) => s.stop()));
    live.clear();
    const rotated = await start('r0', { SKIFF_SECRET_KEY: `${KEY2},${KEY1}` });
    await logShowing(rotated, /stored credentials: 1 entry sealed again under the current key/);
    await logShowing(rotated, new RegExp(`stored credentials: PostgreSQL table stored_credentials \\(sealed under key ${keyId(KEY2)}\\)`));
    assert.ok((await rows())[0]!.sealed.startsWith(`v1.${keyId(KEY2)}.`));
    const copy = await copyToEnd(rotated, 'alice', copyToBasic('alice/rotated'));
    assert.equal(copy.state, 'succeeded', JSON.stringify(copy));
    const put = await call(rotated, 'admin', 'PUT', `/v1/credentials/${basic.host}`, { username: basic.username, password: basic.password, usableBy: ['alice', 'bob'] });
    assert.equal(put.status, 200);
    const [row] = await rows();
    assert.ok(row!.sealed.startsWith(`v1.${keyId(KEY2)}.`));
    assert.equal(row!.usable_by, '["alice","bob"]');
    const inspect = `/v1/images/inspect?${new URLSearchParams({ image: `docker://${basic.host}/alice/rotated:v1`, noTags: 'true' })}`;
    assert.equal((await call(rotated, 'bob', 'GET', inspect)).status, 200);
  });

  it('a replica on PostgreSQL without a key says so at start and refuses to store a login, naming SKIFF_SECRET_KEY, before asking the registry', async () => {
    const { SKIFF_SECRET_KEY: _key, ...rest } = env;
    const keyless = await startSkiff({ ...rest, SKIFF_DATABASE_URL: await pg.createDatabase('keyless'), SKIFF_REPLICA_ID: 'keyless' });
    try {
      await logShowing(keyless, /no SKIFF_SECRET_KEY, so storing credentials \(PUT \/v1\/credentials\) is refused/);
      // Nothing listens on port 9: asked, the registry would be UPSTREAM_UNAVAILABLE, not this.
      const put = await call(keyless, 'admin', 'PUT', '/v1/credentials/127.0.0.1:9', { username: 'u', password: 'p' });
      assert.equal(put.status, 503);
      assert.equal(put.body.code, 'SECRET_KEY_REQUIRED', JSON.stringify(put.body));
      assert.match(put.body.detail!, /SKIFF_SECRET_KEY or SKIFF_SECRET_KEY_FILE/);
      assert.deepEqual((await call(keyless, 'admin', 'GET', '/v1/credentials')).body, [] as unknown);
    } finally {
      await keyless.stop();
    }
  });
});
