/**
 * The CredentialStore contract (src/credentials/credential-store.ts), run against both adapters:
 * `auth.json` in a data directory (the embedded default) and a real PostgreSQL server
 * (test/support/postgres.ts). Plus what is particular to each: auth.json without a key keeps
 * skopeo's format and is sealed once a key is configured; PostgreSQL refuses to store without a
 * key and is shared by several processes at once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeEntry, type AuthFileDoc } from '../src/credentials/auth-file';
import { AuthFileCredentialStore } from '../src/credentials/auth-file-credential-store';
import type { CredentialStore } from '../src/credentials/credential-store';
import { PostgresCredentialStore } from '../src/credentials/postgres-credential-store';
import { PostgresDatabase } from '../src/database/postgres-database';
import { DomainError } from '../src/errors/domain-error';
import { SecretBox } from '../src/secrets/secret-box';
import { postgresSkip, startPostgres, type TestPostgres } from './support/postgres';
import { startRegistry, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const id1 = new SecretBox([k1]).currentKeyId!;
const id2 = new SecretBox([k2]).currentKeyId!;
const PASSWORD = 'pw-Z7q!never-at-rest';
const TOKEN = 'refresh-token-never-at-rest';

const basic = (registry: string, usableBy?: string[]) => ({ registry, auth: { kind: 'basic' as const, username: 'ci-bot', password: PASSWORD }, ...(usableBy ? { usableBy } : {}) });
const failsWith = (code: string, re: RegExp) => (e: unknown) => e instanceof DomainError && e.code === code && re.test(e.message);

/** What a contract run needs of an adapter: fresh instances on one backing store, and a look at it at rest. */
interface Fixture {
  /** A new store instance (as a restarted process would open) with these keys. */
  open(keys: Buffer[]): Promise<CredentialStore>;
  /** Everything the backing store holds, as text. */
  atRest(): Promise<string>;
  /** Changes an entry's usableBy at rest, beside the store (a tampered row or file). */
  alterUsableBy(registry: string, usableBy: string[]): Promise<void>;
  /** Puts `from`'s sealed value into `to`'s entry at rest. */
  moveSealed(from: string, to: string): Promise<void>;
  reset(): Promise<void>;
}

function contract(name: string, fixture: () => Fixture): void {
  describe(`CredentialStore contract: ${name}`, () => {
    let f: Fixture;
    before(() => {
      f = fixture();
    });

    it('puts, gets, lists without secrets, replaces a whole entry, forgets', async () => {
      await f.reset();
      const store = await f.open([k1]);
      assert.equal(await store.get('r.example:5000'), undefined);
      await store.put(basic('r.example:5000', ['team-a']));
      await store.put({ registry: 'docker.io', auth: { kind: 'identityToken', identityToken: TOKEN, username: 'hub-user' } });
      assert.deepEqual(await store.get('r.example:5000'), basic('r.example:5000', ['team-a']));
      assert.deepEqual(await store.get('docker.io'), { registry: 'docker.io', auth: { kind: 'identityToken', identityToken: TOKEN, username: 'hub-user' } });
      const listed = (await store.list()).sort((a, b) => a.registry.localeCompare(b.registry));
      assert.deepEqual(listed, [
        { registry: 'docker.io', username: 'hub-user' },
        { registry: 'r.example:5000', username: 'ci-bot', usableBy: ['team-a'] },
      ]);
      assert.ok(!JSON.stringify(listed).includes(PASSWORD));
      await store.put(basic('r.example:5000'));
      assert.deepEqual(await store.get('r.example:5000'), basic('r.example:5000'), 'usableBy went with the entry it replaced');
      assert.deepEqual(await (await f.open([k1])).get('r.example:5000'), basic('r.example:5000'), 'a fresh instance reads what was written');
      assert.equal(await store.delete('r.example:5000'), true);
      assert.equal(await store.delete('r.example:5000'), false);
      assert.equal(await store.get('r.example:5000'), undefined);
      assert.deepEqual((await store.list()).map((e) => e.registry), ['docker.io']);
      await assert.rejects(store.put({ registry: 'x.example', auth: { kind: 'registryToken', registryToken: 't' } }), failsWith('INVALID_ARGUMENT', /registry tokens/));
    });

    it('with a key, no secret is at rest; an entry changed at rest or moved to another registry opens no more', async () => {
      await f.reset();
      const store = await f.open([k1]);
      await store.put(basic('a.example', ['team-a']));
      await store.put(basic('b.example'));
      await store.put({ registry: 'c.example', auth: { kind: 'identityToken', identityToken: TOKEN } });
      const text = await f.atRest();
      assert.ok(!text.includes(PASSWORD) && !text.includes(TOKEN), 'no secret at rest');
      assert.ok(!text.includes(Buffer.from(`ci-bot:${PASSWORD}`).toString('base64')), 'not even base64-encoded');
      assert.ok(text.includes(`v1.${id1}.`), 'sealed under the key');
      await f.alterUsableBy('a.example', ['team-a', 'intruder']);
      await assert.rejects((await f.open([k1])).get('a.example'), failsWith('CREDENTIALS_UNAVAILABLE', /credentials stored for a\.example cannot be opened: .*does not authenticate.*PUT \/v1\/credentials\/a\.example/));
      await f.moveSealed('b.example', 'c.example');
      await assert.rejects((await f.open([k1])).get('c.example'), failsWith('CREDENTIALS_UNAVAILABLE', /c\.example/));
      assert.deepEqual(await (await f.open([k1])).get('b.example'), basic('b.example'), 'the others are untouched');
    });

    it('rotation: an entry under the old key is read under [new, old], sealed again under the new one, and then needs it', async () => {
      await f.reset();
      await (await f.open([k1])).put(basic('rot.example', ['team-a']));
      const rotated = await f.open([k2, k1]);
      assert.deepEqual(await rotated.get('rot.example'), basic('rot.example', ['team-a']), 'read under the old key');
      assert.deepEqual(await rotated.reseal(), { resealed: 1, unreadable: [] });
      assert.deepEqual(await rotated.reseal(), { resealed: 0, unreadable: [] }, 'nothing left to do');
      const text = await f.atRest();
      assert.ok(text.includes(`v1.${id2}.`) && !text.includes(`v1.${id1}.`), 'sealed again under the first key');
      assert.deepEqual(await (await f.open([k2])).get('rot.example'), basic('rot.example', ['team-a']), 'the old key may go');
      await assert.rejects((await f.open([k1])).get('rot.example'), failsWith('CREDENTIALS_UNAVAILABLE', new RegExp(`sealed under key ${id2}, which is not among the configured keys`)));
      await rotated.put(basic('new.example'));
      assert.equal((await f.atRest()).match(new RegExp(`v1\\.${id1}\\.`, 'g')), null, 'a new write is sealed under the new key');
    });

    it('what no configured key opens is left as it is, reported by reseal, still listed and forgotten', async () => {
      await f.reset();
      await (await f.open([k1])).put(basic('lost.example'));
      const other = await f.open([k2]);
      assert.deepEqual(await other.reseal(), { resealed: 0, unreadable: ['lost.example'] });
      assert.deepEqual(await other.list(), [{ registry: 'lost.example', username: 'ci-bot' }]);
      await assert.rejects(other.get('lost.example'), failsWith('CREDENTIALS_UNAVAILABLE', new RegExp(`key ${id1}`)));
      assert.equal(await (await f.open([])).delete('lost.example'), true, 'forgetting needs no key');
    });
  });
}

// ---- auth.json ----

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function authFileFixture(): Fixture & { path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-creds-'));
  dirs.push(dir);
  const path = join(dir, 'auth.json');
  const doc = (): AuthFileDoc => JSON.parse(readFileSync(path, 'utf8')) as AuthFileDoc;
  const save = (d: AuthFileDoc) => writeFileSync(path, JSON.stringify(d));
  return {
    path,
    open: async (keys) => new AuthFileCredentialStore(path, new SecretBox(keys)),
    atRest: async () => readFileSync(path, 'utf8'),
    async alterUsableBy(registry, usableBy) {
      const d = doc();
      d.auths![registry]!['usableBy'] = usableBy;
      save(d);
    },
    async moveSealed(from, to) {
      const d = doc();
      d.auths![to]!['skiffSealed'] = d.auths![from]!['skiffSealed'];
      save(d);
    },
    reset: async () => rmSync(path, { force: true }),
  };
}

contract('auth.json', authFileFixture);

describe('auth.json without a key, then with one', () => {
  it('without a key, entries are written as skopeo writes them (mode 0600); a key seals them at the next start, keeping the rest of the file', async () => {
    const f = authFileFixture();
    writeFileSync(f.path, JSON.stringify({ auths: {}, credHelpers: { 'gcr.io': 'gcloud' } }));
    const plain = await f.open([]);
    await plain.put(basic('old.example', ['team-a']));
    const d = JSON.parse(await f.atRest()) as AuthFileDoc;
    assert.deepEqual(decodeEntry(d.auths!['old.example']!), basic('old.example').auth, 'skopeo reads it');
    assert.equal(statSync(f.path).mode & 0o777, 0o600);
    assert.deepEqual(await plain.get('old.example'), basic('old.example', ['team-a']));
    const keyed = await f.open([k1]);
    assert.deepEqual(await keyed.get('old.example'), basic('old.example', ['team-a']), 'an entry in clear is read with a key too');
    assert.deepEqual(await keyed.reseal(), { resealed: 1, unreadable: [] });
    const text = await f.atRest();
    assert.ok(!text.includes(Buffer.from(`ci-bot:${PASSWORD}`).toString('base64')) && !text.includes(PASSWORD));
    assert.deepEqual((JSON.parse(text) as AuthFileDoc).credHelpers, { 'gcr.io': 'gcloud' }, 'other keys of the file are kept');
    assert.deepEqual(await (await f.open([k1])).get('old.example'), basic('old.example', ['team-a']));
    await assert.rejects((await f.open([])).get('old.example'), failsWith('CREDENTIALS_UNAVAILABLE', /no key is configured \(SKIFF_SECRET_KEY/));
  });
});

/** Waits (boundedly) until the service log shows `re`: this process writes the file a little after the service wrote the line. */
async function logShowing(svc: SkiffService, re: RegExp): Promise<void> {
  for (let i = 0; i < 200 && !re.test(svc.log()); i++) await sleep(50);
  assert.match(svc.log(), re);
}

describe('the embedded service: auth.json in clear as before, sealed once a key is configured', () => {
  let basicRegistry: TestRegistry;
  before(async () => {
    basicRegistry = await startRegistry({ mode: 'basic' });
  });
  after(async () => {
    await basicRegistry?.stop();
  });

  it('a login stored without a key is sealed at the next start with SKIFF_SECRET_KEY, and still used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-creds-svc-'));
    dirs.push(dir);
    const registries = join(dir, 'registries.yaml');
    writeFileSync(registries, `registries:\n  - location: "${basicRegistry.host}"\n    ca: ${basicRegistry.caFile}\n`);
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    const login = { username: basicRegistry.username!, password: basicRegistry.password! };
    const plainSvc = await startSkiff({ SKIFF_REGISTRIES_CONFIG: registries }, { dataDir });
    try {
      await logShowing(plainSvc, /stored credentials: .*auth\.json \(mode 0600, secrets in clear: set SKIFF_SECRET_KEY to seal them\)/);
      const put = await fetch(`${plainSvc.url}/v1/credentials/${basicRegistry.host}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(login) });
      assert.equal(put.status, 200);
      assert.ok(readFileSync(join(dataDir, 'auth.json'), 'utf8').includes(Buffer.from(`${login.username}:${login.password}`).toString('base64')), 'as skopeo writes it');
    } finally {
      await plainSvc.stop({ keepData: true });
    }
    const keyed = await startSkiff({ SKIFF_REGISTRIES_CONFIG: registries, SKIFF_SECRET_KEY: k1.toString('hex') }, { dataDir });
    try {
      await logShowing(keyed, /stored credentials: 1 entry sealed again under the current key/);
      const text = readFileSync(join(dataDir, 'auth.json'), 'utf8');
      assert.ok(!text.includes(login.password) && !text.includes(Buffer.from(`${login.username}:${login.password}`).toString('base64')), 'no secret in auth.json');
      assert.ok(text.includes(`v1.${id1}.`));
      const inspect = await fetch(`${keyed.url}/v1/images/inspect?${new URLSearchParams({ image: `docker://${basicRegistry.host}/none/yet:v1`, noTags: 'true' })}`);
      assert.equal(((await inspect.json()) as { code?: string }).code, 'IMAGE_NOT_FOUND', 'the registry accepted the stored login');
      assert.deepEqual(await (await fetch(`${keyed.url}/v1/credentials`)).json(), [{ registry: basicRegistry.host, username: login.username, source: 'stored' }]);
    } finally {
      await keyed.stop();
    }
  });
});

// ---- PostgreSQL ----

const skipPg = postgresSkip();
describe('PostgreSQL', { skip: skipPg }, () => {
  let pg: TestPostgres;
  let url: string;
  const opened: PostgresDatabase[] = [];
  const database = async () => {
    const db = await PostgresDatabase.open({ url, poolSize: 3 });
    opened.push(db);
    return db;
  };
  before(async () => {
    pg = await startPostgres();
    url = await pg.createDatabase('credentials');
    await database(); // migrated
  });
  after(async () => {
    for (const db of opened) await db.close();
    await pg?.stop();
  });

  contract('PostgreSQL', () => ({
    open: async (keys) => new PostgresCredentialStore(await database(), new SecretBox(keys)),
    atRest: async () => JSON.stringify(await pg.sql('SELECT * FROM stored_credentials', url)),
    alterUsableBy: async (registry, usableBy) => void (await pg.sql(`UPDATE stored_credentials SET usable_by = '${JSON.stringify(usableBy)}' WHERE registry = '${registry}'`, url)),
    moveSealed: async (from, to) => void (await pg.sql(`UPDATE stored_credentials SET sealed = (SELECT sealed FROM stored_credentials WHERE registry = '${from}') WHERE registry = '${to}'`, url)),
    reset: async () => void (await pg.sql('DELETE FROM stored_credentials', url)),
  }));

  it('without a key, storing is SECRET_KEY_REQUIRED naming SKIFF_SECRET_KEY; nothing is written; the table refuses a secret in clear', async () => {
    await pg.sql('DELETE FROM stored_credentials', url);
    const store = new PostgresCredentialStore(await database(), new SecretBox([]));
    await assert.rejects(store.put(basic('nokey.example')), failsWith('SECRET_KEY_REQUIRED', /SKIFF_SECRET_KEY or SKIFF_SECRET_KEY_FILE/));
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.get('nokey.example'), undefined);
    assert.match(store.description, /storing credentials \(PUT \/v1\/credentials\) is refused/);
    await assert.rejects(pg.sql(`INSERT INTO stored_credentials (registry, username, sealed) VALUES ('x', 'u', '${Buffer.from(`u:${PASSWORD}`).toString('base64')}')`, url), /check constraint/);
  });

  it('a usable_by that is not JSON any more (changed at rest) names nobody and opens nothing', async () => {
    await pg.sql('DELETE FROM stored_credentials', url);
    const store = new PostgresCredentialStore(await database(), new SecretBox([k1]));
    await store.put(basic('garbled.example', ['team-a']));
    await pg.sql(`UPDATE stored_credentials SET usable_by = 'not json' WHERE registry = 'garbled.example'`, url);
    assert.deepEqual(await store.list(), [{ registry: 'garbled.example', username: 'ci-bot', usableBy: [] }]);
    await assert.rejects(store.get('garbled.example'), failsWith('CREDENTIALS_UNAVAILABLE', /garbled\.example/));
  });

  it('two processes on one database: a write through one is what the other reads at once (no cache)', async () => {
    await pg.sql('DELETE FROM stored_credentials', url);
    const [a, b] = [new PostgresCredentialStore(await database(), new SecretBox([k1])), new PostgresCredentialStore(await database(), new SecretBox([k1]))];
    assert.equal(await b.get('shared.example'), undefined);
    await a.put(basic('shared.example', ['team-a']));
    assert.deepEqual(await b.get('shared.example'), basic('shared.example', ['team-a']));
    await a.put(basic('shared.example', ['team-b']));
    assert.deepEqual((await b.get('shared.example'))?.usableBy, ['team-b'], 'a narrowed entry is seen narrowed');
    await a.delete('shared.example');
    assert.equal(await b.get('shared.example'), undefined, 'a forgotten entry is not used any more');
  });

  it('replicas starting together seal each entry again once (each update is conditional on the value read)', async () => {
    await pg.sql('DELETE FROM stored_credentials', url);
    const old = new PostgresCredentialStore(await database(), new SecretBox([k1]));
    for (let i = 0; i < 5; i++) await old.put(basic(`r${i}.example`));
    const replicas = await Promise.all([0, 1, 2].map(async () => new PostgresCredentialStore(await database(), new SecretBox([k2, k1]))));
    const reports = await Promise.all(replicas.map((r) => r.reseal()));
    assert.equal(reports.reduce((n, r) => n + r.resealed, 0), 5, 'each entry sealed again once');
    const rows = (await pg.sql('SELECT sealed FROM stored_credentials', url)) as { sealed: string }[];
    assert.ok(rows.every((r) => r.sealed.startsWith(`v1.${id2}.`)));
  });
});
