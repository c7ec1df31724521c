/**
 * /v1/operations on the built service. The full lifecycle (copies and syncs running,
 * cancelled, resumed after a restart) is exercised by the copy and sync e2e tests; here, what
 * the public API can show without any job: an empty list, validation and 404s.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, startSkiff, type SkiffService } from './support/skiff-service';

let svc: SkiffService;
before(async () => {
  svc = await startSkiff();
});
after(async () => {
  await svc?.stop();
});

const UNKNOWN = '01JDQ3X4M5N6P7Q8R9S0T1V2W3';

function assertProblem(res: Response, body: unknown, status: number, code: string): void {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal((body as { code: string }).code, code);
}

describe('/v1/operations', () => {
  it('keeps its database in the data directory', () => {
    assert.ok(existsSync(join(svc.dataDir, 'skiff.db')));
  });

  it('lists nothing on a fresh store, with no next page', async () => {
    const all = await svc.api.GET('/v1/operations');
    assert.equal(all.response.status, 200);
    assert.deepEqual(all.data, { operations: [] });
    const filtered = await svc.api.GET('/v1/operations', { params: { query: { state: 'running', kind: 'copy', pageSize: 500 } } });
    assert.deepEqual(filtered.data, { operations: [] });
  });

  it('rejects malformed list queries', async () => {
    for (const query of ['pageSize=0', 'pageSize=501', 'state=finished', 'kind=move', 'pageToken=not-a-token']) {
      const res = await fetch(`${svc.url}/v1/operations?${query}`);
      assertProblem(res, await res.json(), 400, 'INVALID_ARGUMENT');
    }
  });

  it('answers 404 problems for unknown operations', async () => {
    const path = { params: { path: { id: UNKNOWN } } };
    const get = await svc.api.GET('/v1/operations/{id}', path);
    assertProblem(get.response, get.error, 404, 'OPERATION_NOT_FOUND');
    const longPoll = await svc.api.GET('/v1/operations/{id}', { params: { path: { id: UNKNOWN }, query: { waitSeconds: 5 } } });
    assertProblem(longPoll.response, longPoll.error, 404, 'OPERATION_NOT_FOUND');
    const cancel = await svc.api.POST('/v1/operations/{id}/cancel', path);
    assertProblem(cancel.response, cancel.error, 404, 'OPERATION_NOT_FOUND');
    const del = await svc.api.DELETE('/v1/operations/{id}', path);
    assertProblem(del.response, del.error, 404, 'OPERATION_NOT_FOUND');
    const events = await fetch(`${svc.url}/v1/operations/${UNKNOWN}/events`, { headers: { accept: 'text/event-stream' } });
    assertProblem(events, await events.json(), 404, 'OPERATION_NOT_FOUND');
    const odd = await fetch(`${svc.url}/v1/operations/..%2F..%2Fetc`);
    assertProblem(odd, await odd.json(), 404, 'OPERATION_NOT_FOUND');
  });
});

describe('the operations database is checked, not trusted', () => {
  it('a data directory that held operations refuses an emptied database, naming the file and the way out; SKIFF_START_FRESH starts anew', async () => {
    const first = await startSkiff();
    await first.stop({ keepData: true });
    const db = join(first.dataDir, 'skiff.db');
    writeFileSync(db, '');
    for (const f of ['skiff.db-wal', 'skiff.db-shm']) rmSync(join(first.dataDir, f), { force: true });
    const refused = await startSkiff({}, { dataDir: first.dataDir }).then(
      (s) => s,
      (e: unknown) => e as Error,
    );
    assert.ok(refused instanceof Error, 'the service must not start');
    assert.match(refused.message, /exited with 2/);
    assert.ok(refused.message.includes(db), refused.message);
    assert.match(refused.message, /SKIFF_START_FRESH/);
    assert.doesNotMatch(refused.message, /\n\s+at /, 'no stack trace');
    const fresh = await startSkiff({ SKIFF_START_FRESH: 'true' }, { dataDir: first.dataDir });
    try {
      assert.equal((await fetch(`${fresh.url}/readyz`)).status, 200);
      assert.ok(readdirSync(first.dataDir).some((n) => n.startsWith('skiff.db.set-aside-')));
    } finally {
      await fresh.stop();
    }
  });

  it('garbled pages make /readyz fail instead of answering 500 later', async () => {
    const first = await startSkiff({ SKIFF_SHUTDOWN_GRACE_SECONDS: '0', SKIFF_UPSTREAM_RETRIES: '0' });
    for (let i = 0; i < 150; i++) {
      await fetch(`${first.url}/v1/copies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'docker://127.0.0.1:9/x:y', destination: `oci:out${i}:v1`, labels: { n: String(i) } }) });
    }
    await first.stop({ keepData: true });
    const db = join(first.dataDir, 'skiff.db');
    const size = statSync(db).size;
    const fd = openSync(db, 'r+');
    for (let page = 3; page * 4096 < size; page += 2) writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, page * 4096 + 100);
    closeSync(fd);
    const damaged = await startSkiff({}, { dataDir: first.dataDir });
    try {
      const res = await fetch(`${damaged.url}/readyz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { checks: { name: string; ok: boolean; detail?: string }[] };
      const check = body.checks.find((c) => c.name === 'operationStore');
      assert.equal(check?.ok, false);
      assert.match(check?.detail ?? '', /damaged/);
    } finally {
      await damaged.stop();
    }
  });

  it('a full data volume answers 507 INSUFFICIENT_STORAGE and the service keeps running', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs' }, async () => {
    const mnt = mkdtempSync(join(tmpdir(), 'skiff-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    const svcFull = await startSkiff({ SKIFF_DATA_DIR: join(mnt, 'data'), SKIFF_STORAGE_ROOT: join(mnt, 'images'), SKIFF_SHUTDOWN_GRACE_SECONDS: '0', SKIFF_UPSTREAM_RETRIES: '0' });
    try {
      const ok = await fetch(`${svcFull.url}/v1/copies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'docker://127.0.0.1:9/x:y', destination: 'oci:a:v1' }) });
      assert.equal(ok.status, 202);
      // Fill the volume to the last byte.
      try {
        const fd = openSync(join(mnt, 'filler'), 'w');
        try {
          for (;;) writeSync(fd, Buffer.alloc(64 * 1024));
        } catch {
          // ENOSPC: full
        } finally {
          closeSync(fd);
        }
      } catch {
        // already full
      }
      let status = 0;
      let body: { code?: string } = {};
      for (let i = 0; i < 50 && status !== 507; i++) {
        const res = await fetch(`${svcFull.url}/v1/copies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'docker://127.0.0.1:9/x:y', destination: `oci:b${i}:v1`, labels: { pad: 'x'.repeat(100) } }) });
        status = res.status;
        body = (await res.json()) as { code?: string };
      }
      assert.equal(status, 507);
      assert.equal(body.code, 'INSUFFICIENT_STORAGE');
      assert.equal((await fetch(`${svcFull.url}/healthz`)).status, 200, 'still alive');
      rmSync(join(mnt, 'filler'));
      const after = await fetch(`${svcFull.url}/v1/copies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'docker://127.0.0.1:9/x:y', destination: 'oci:c:v1' }) });
      assert.equal(after.status, 202, 'works again once there is space');
    } finally {
      await svcFull.stop();
      execFileSync('umount', ['-l', mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});

describe('backups', () => {
  it('backup-command writes a consistent copy of a live database with VACUUM INTO; the copy restores', async () => {
    const live = await startSkiff({ SKIFF_SHUTDOWN_GRACE_SECONDS: '0', SKIFF_UPSTREAM_RETRIES: '0' });
    let backup = '';
    let id = '';
    try {
      const res = await fetch(`${live.url}/v1/copies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'docker://127.0.0.1:9/x:y', destination: 'oci:b:v1' }) });
      id = ((await res.json()) as { id: string }).id;
      const out = execFileSync(process.execPath, [join(REPO_ROOT, 'dist/database/backup-command.js')], { env: { PATH: process.env['PATH'] ?? '', SKIFF_DATA_DIR: live.dataDir }, encoding: 'utf8' });
      backup = out.trim();
      assert.match(backup, /skiff-\d{8}T\d{6}Z\.db$/);
      assert.ok(statSync(backup).size > 0);
    } finally {
      await live.stop({ keepData: true });
    }
    // Restore: the backup put in place of the database of a stopped service.
    for (const f of ['skiff.db', 'skiff.db-wal', 'skiff.db-shm']) rmSync(join(live.dataDir, f), { force: true });
    writeFileSync(join(live.dataDir, 'skiff.db'), readFileSync(backup));
    const restored = await startSkiff({}, { dataDir: live.dataDir });
    try {
      assert.equal((await fetch(`${restored.url}/v1/operations/${id}`)).status, 200);
      assert.equal((await fetch(`${restored.url}/readyz`)).status, 200);
    } finally {
      await restored.stop();
    }
  });
});
