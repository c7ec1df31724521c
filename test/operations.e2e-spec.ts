/**
 * /v1/operations on the built service. The full lifecycle (copies and syncs running,
 * cancelled, resumed after a restart) is exercised by the copy and sync e2e tests; here, what
 * the public API can show without any job: an empty list, validation and 404s.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSkiff, type SkiffService } from './support/skiff-service';

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
