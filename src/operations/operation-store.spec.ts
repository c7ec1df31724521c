import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { newOperationId, OPERATION_ID_PATTERN } from './operation-id';
import { emptyProgress } from './operation-runner';
import { IdempotencyKeyTakenError, OperationStore, publicOperation, type StoredOperation } from './operation-store';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-store-'));
  dirs.push(dir);
  return join(dir, 'nested', 'skiff.db');
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function op(over: Partial<StoredOperation> = {}): StoredOperation {
  return {
    id: newOperationId(),
    kind: 'copy',
    state: 'queued',
    createdAt: new Date().toISOString(),
    request: { source: 'docker://r/a:1', destination: 'oci:x:1' },
    progress: emptyProgress(),
    requestHash: 'h',
    hadSecrets: false,
    ...over,
  };
}

describe('operation ids', () => {
  it('are ULIDs that sort in creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newOperationId());
    for (const id of ids) assert.match(id, OPERATION_ID_PATTERN);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    const early = newOperationId(Date.parse('2020-01-01T00:00:00Z'));
    assert.ok(early > ids.at(-1)!, 'a clock going back does not break the order');
  });
});

describe('OperationStore', () => {
  it('creates the schema (WAL, versioned) and keeps data across reopening', () => {
    const path = tempDb();
    const store = OperationStore.open(path);
    assert.equal(store.schemaVersion, 1);
    const a = op({ idempotencyKey: 'k1', hadSecrets: true, startedAt: '2025-01-01T00:00:00.000Z' });
    store.insert(a);
    store.close();
    const again = OperationStore.open(path);
    assert.deepEqual(again.get(a.id), a);
    assert.deepEqual(again.findByIdempotencyKey('k1'), a);
    assert.equal(again.get('nope'), undefined);
    again.close();
    const raw = new DatabaseSync(path);
    assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    raw.close();
  });

  it('refuses a database from a newer version', () => {
    const path = tempDb();
    OperationStore.open(path).close();
    const raw = new DatabaseSync(path);
    raw.exec('PRAGMA user_version = 99');
    raw.close();
    assert.throws(() => OperationStore.open(path), /schema version 99 is newer/);
  });

  it('keeps idempotency keys unique', () => {
    const store = OperationStore.open(tempDb());
    store.insert(op({ idempotencyKey: 'same' }));
    assert.throws(() => store.insert(op({ idempotencyKey: 'same' })), IdempotencyKeyTakenError);
    store.insert(op());
    store.insert(op());
    store.close();
  });

  it('updates conditionally and clears columns with null', () => {
    const store = OperationStore.open(tempDb());
    const a = op();
    store.insert(a);
    assert.equal(store.update(a.id, { state: 'succeeded' }, ['running']), undefined);
    const running = store.update(a.id, { state: 'running', startedAt: '2025-01-01T00:00:00.000Z' }, ['queued']);
    assert.equal(running?.state, 'running');
    const done = store.update(a.id, { state: 'failed', finishedAt: '2025-01-01T00:00:01.000Z', error: { type: 't', title: 'T', status: 500, detail: 'd', instance: 'i', code: 'INTERNAL' } });
    assert.equal(done?.error?.code, 'INTERNAL');
    const back = store.update(a.id, { state: 'queued', startedAt: null, finishedAt: null, error: null });
    assert.equal(back?.startedAt, undefined);
    assert.equal(back?.finishedAt, undefined);
    assert.equal(back?.error, undefined);
    assert.equal(store.update('missing', { state: 'running' }), undefined);
    store.close();
  });

  it('numbers events per operation and replays them after a seq', () => {
    const store = OperationStore.open(tempDb());
    const a = op();
    const b = op();
    store.insert(a);
    store.insert(b);
    const at = new Date().toISOString();
    assert.equal(store.appendEvent(a.id, 'state', { state: 'queued' }, at).seq, 1);
    assert.equal(store.appendEvent(a.id, 'progress', { bytesDone: 1 }, at).seq, 2);
    assert.equal(store.appendEvent(b.id, 'state', { state: 'queued' }, at).seq, 1);
    assert.equal(store.appendEvent(a.id, 'state', { state: 'running' }, at).seq, 3);
    assert.equal(store.lastSeq(a.id), 3);
    assert.equal(store.lastSeq('none'), 0);
    assert.deepEqual(
      store.eventsAfter(a.id, 1).map((e) => [e.seq, e.type, e.data]),
      [
        [2, 'progress', { bytesDone: 1 }],
        [3, 'state', { state: 'running' }],
      ],
    );
    assert.ok(store.delete(a.id));
    assert.equal(store.delete(a.id), false);
    assert.deepEqual(store.eventsAfter(a.id, 0), []);
    assert.equal(store.eventsAfter(b.id, 0).length, 1);
    store.close();
  });

  it('lists newest first with filters and an id cursor; hands out the oldest queued', () => {
    const store = OperationStore.open(tempDb());
    const ops = [op(), op({ kind: 'sync' }), op({ state: 'running' }), op(), op({ kind: 'sync', state: 'failed' })];
    for (const o of ops) store.insert(o);
    const ids = (xs: StoredOperation[]) => xs.map((x) => x.id);
    assert.deepEqual(ids(store.list({ limit: 10 })), ids([...ops].reverse()));
    assert.deepEqual(ids(store.list({ limit: 2 })), [ops[4]!.id, ops[3]!.id]);
    assert.deepEqual(ids(store.list({ limit: 10, beforeId: ops[3]!.id })), [ops[2]!.id, ops[1]!.id, ops[0]!.id]);
    assert.deepEqual(ids(store.list({ limit: 10, kind: 'sync' })), [ops[4]!.id, ops[1]!.id]);
    assert.deepEqual(ids(store.list({ limit: 10, state: 'queued', kind: 'copy' })), [ops[3]!.id, ops[0]!.id]);
    assert.equal(store.nextQueued()?.id, ops[0]!.id);
    assert.deepEqual(ids(store.findByStates(['running', 'failed'])), [ops[2]!.id, ops[4]!.id]);
    store.close();
  });

  it('prunes finished operations that finished before a time, with their events', () => {
    const store = OperationStore.open(tempDb());
    const old = op({ state: 'succeeded', finishedAt: '2020-01-01T00:00:00.000Z' });
    const recent = op({ state: 'failed', finishedAt: '2030-01-01T00:00:00.000Z' });
    const unfinished = op({ state: 'running' });
    for (const o of [old, recent, unfinished]) {
      store.insert(o);
      store.appendEvent(o.id, 'state', publicOperation(o), o.createdAt);
    }
    assert.deepEqual(store.pruneFinishedBefore('2025-01-01T00:00:00.000Z'), [old.id]);
    assert.equal(store.get(old.id), undefined);
    assert.deepEqual(store.eventsAfter(old.id, 0), []);
    assert.ok(store.get(recent.id));
    assert.ok(store.get(unfinished.id));
    store.close();
  });

  it('rolls a transaction back when it throws', () => {
    const store = OperationStore.open(tempDb());
    const a = op();
    assert.throws(() =>
      store.transaction(() => {
        store.insert(a);
        throw new Error('boom');
      }),
    );
    assert.equal(store.get(a.id), undefined);
    store.close();
  });
});
