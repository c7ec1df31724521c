/**
 * The TypeScript client kit (clients/typescript) driving the service as a caller would:
 * copies and syncs submitted with the typed client, followed with waitForOperation (long-poll
 * with backoff) and watchOperation (typed server-sent events, resumed with Last-Event-ID),
 * cancelled, and retried under an Idempotency-Key with every default spelled out — against
 * real registries (one behind a fault proxy that slows blob downloads, so a copy is still
 * running when it is cancelled).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type CopyOperation,
  createSkiffClient,
  EventStreamError,
  MAX_EVENT_CHARS,
  type OperationEventOf,
  SkiffProblemError,
  type SyncOperation,
  waitForOperation,
  watchOperation,
} from '../clients/typescript/src/index';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy';
import { makeLayer, pseudoRandomBytes, pushImage, pushMultiArch, type PushedImage } from './support/images';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';

let src: TestRegistry;
let dst: TestRegistry;
let slow: FaultProxy;
let svc: SkiffService;
let app: PushedImage;

const S = (r: string) => `docker://${src.host}/${r}`;
const D = (r: string) => `docker://${dst.host}/${r}`;
const plain = { sourceTlsVerify: false, destinationTlsVerify: false } as const;

before(async () => {
  [src, dst] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'plain' })]);
  const layers = [makeLayer({ 'app/bin': pseudoRandomBytes(200_000, 'kit-app') }), makeLayer({ 'etc/conf': 'mode=kit\n' })];
  app = await pushImage(src, 'kit/app', '1.0', { layers, os: 'linux', architecture: 'amd64', format: 'oci', config: { Env: ['KIT=1'] } });
  await pushImage(src, 'kit/app', '1.1', { layers: [layers[1]!], os: 'linux', architecture: 'amd64', format: 'oci' });
  await pushMultiArch(src, 'kit/multi', 'latest', {
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
    format: 'oci',
  });
  await pushImage(src, 'kit/big', 'v1', { layers: [makeLayer({ 'big.bin': pseudoRandomBytes(4 * 1024 * 1024, 'kit-big') })], os: 'linux', architecture: 'amd64', format: 'oci' });
  slow = await startFaultProxy(src.url);
  // blob downloads through the proxy crawl: a copy from it is running for a long while
  slow.addRule({ method: 'GET', path: /^\/v2\/kit\/big\/blobs\/sha256:/, times: Infinity, action: { kind: 'trickle', bytesPerSecond: 64 * 1024 } });
  svc = await startSkiff();
});

after(async () => {
  await svc?.stop();
  await slow?.close();
  await stopAll();
});

describe('the client kit', () => {
  it('copies: the typed answer, waitForOperation gives back a CopyOperation with its result', async () => {
    const { data, error, response } = await svc.api.POST('/v1/copies', { body: { source: S('kit/app:1.0'), destination: D('kit/app:1.0'), ...plain, labels: { suite: 'kit' } } });
    assert.equal(response.status, 202, JSON.stringify(error));
    assert.equal(response.headers.get('location'), `/v1/operations/${data!.id}`);
    assert.equal(data!.kind, 'copy');
    const copy = data as CopyOperation;
    const done: CopyOperation = await waitForOperation(svc.api, copy, { timeoutMs: 120_000, pollSeconds: 5 });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.result?.digest, app.digest);
    assert.equal(done.request.multiArch, 'system');
    assert.deepEqual(done.labels, { suite: 'kit' });
    const listed = await svc.api.GET('/v1/operations', { params: { query: { label: ['suite=kit'], kind: 'copy' } } });
    assert.deepEqual(listed.data?.operations.map((o) => o.id), [copy.id]);
  });

  it('syncs: a SyncOperation whose result lists every image', async () => {
    const yaml = `${src.host}:\n  tls-verify: false\n  images:\n    kit/app: []\n`;
    const { data, error, response } = await svc.api.POST('/v1/syncs', { body: { sourceType: 'yaml', yaml, destination: `${dst.host}/mirror`, destinationType: 'docker', destinationTlsVerify: false } });
    assert.equal(response.status, 202, JSON.stringify(error));
    const done = await waitForOperation(svc.api, data as SyncOperation, { timeoutMs: 120_000 });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.kind, 'sync');
    assert.deepEqual(done.result?.images.map((i) => [i.destination, i.state]).sort(), [
      [D('mirror/app:1.0'), 'copied'],
      [D('mirror/app:1.1'), 'copied'],
    ]);
    assert.equal(done.result?.counts.copied, 2);
  });

  it('watchOperation: typed state, progress and result events, ending with the final state', async () => {
    const { data } = await svc.api.POST('/v1/copies', { body: { source: S('kit/multi:latest'), destination: D('kit/multi:latest'), multiArch: 'all', ...plain } });
    const events: OperationEventOf<CopyOperation>[] = [];
    for await (const e of watchOperation(svc.api, data as CopyOperation)) events.push(e);
    const last = events.at(-1)!;
    assert.equal(last.event, 'state');
    assert.equal(last.event === 'state' && last.data.state, 'succeeded');
    const result = events.find((e): e is Extract<OperationEventOf<CopyOperation>, { event: 'result' }> => e.event === 'result');
    assert.ok(result, 'a result event');
    assert.equal(result.data.manifests.length, 2);
    assert.equal(result.data.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.ok(events.some((e) => e.event === 'progress' && typeof e.data.bytesTotal === 'number'));
    const ids = events.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'events in id order');

    // resuming after an event replays exactly the ones after it
    const from = events[1]!.id;
    const resumed: number[] = [];
    for await (const e of watchOperation(svc.api, data!.id, { lastEventId: from })) resumed.push(e.id);
    assert.deepEqual(resumed, ids.filter((id) => id > from));
  });

  it('cancel: a running copy ends cancelled; the watcher sees it; the kit reports a missing operation as a problem', async () => {
    const { data } = await svc.api.POST('/v1/copies', { body: { source: `docker://${slow.host}/kit/big:v1`, destination: D('kit/cancelled:v1'), ...plain } });
    const copy = data as CopyOperation;
    const watched: OperationEventOf<CopyOperation>[] = [];
    const watcher = (async () => {
      for await (const e of watchOperation(svc.api, copy)) watched.push(e);
    })();
    // cancel once it is running and bytes move
    for (let i = 0; i < 400; i++) {
      const { data: cur } = await svc.api.GET('/v1/operations/{id}', { params: { path: { id: copy.id } } });
      if (cur?.state === 'running' && cur.progress.bytesDone > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const cancelled = await svc.api.POST('/v1/operations/{id}/cancel', { params: { path: { id: copy.id } }, body: { reason: 'kit test' } });
    assert.equal(cancelled.response.status, 202, JSON.stringify(cancelled.error));
    assert.ok(['cancelling', 'cancelled'].includes(cancelled.data!.state));
    const done = await waitForOperation(svc.api, copy, { timeoutMs: 60_000 });
    assert.equal(done.state, 'cancelled');
    assert.equal(done.cancellation?.reason, 'kit test');
    await watcher;
    const last = watched.at(-1)!;
    assert.ok(last.event === 'state' && last.data.state === 'cancelled');
    // cancelling again: 409, typed as a problem
    const again = await svc.api.POST('/v1/operations/{id}/cancel', { params: { path: { id: copy.id } } });
    assert.equal(again.response.status, 409);
    assert.equal(again.error?.code, 'OPERATION_CONFLICT');
    await assert.rejects(waitForOperation(svc.api, '01JDQ3X4M5N6P7Q8R9S0T1V2W3'), (e: unknown) => e instanceof SkiffProblemError && e.status === 404 && e.problem?.code === 'OPERATION_NOT_FOUND');
  });

  it('idempotent retries: the same key answers the same operation whether defaults are left out or spelled out', async () => {
    const key = `kit-${Date.now()}`;
    const headers = { 'Idempotency-Key': key };
    const first = await svc.api.POST('/v1/copies', { body: { source: S('kit/app:1.1'), destination: D('kit/idem:1.1'), ...plain }, headers });
    assert.equal(first.response.status, 202, JSON.stringify(first.error));
    // every default written out, keys in another order: the same request by meaning
    const spelled = {
      retryTimes: 3,
      referrers: 'none',
      removeSignatures: false,
      preserveDigests: false,
      multiArch: 'system',
      labels: {},
      destinationTlsVerify: false,
      destination: D('kit/idem:1.1'),
      source: S('kit/app:1.1'),
      sourceTlsVerify: false,
    } as const;
    const retry = await svc.api.POST('/v1/copies', { body: spelled, headers });
    assert.ok([200, 202].includes(retry.response.status), JSON.stringify(retry.error));
    assert.equal(retry.data?.id, first.data?.id);
    assert.equal(retry.response.headers.get('idempotent-replayed'), 'true');
    // a different request under the same key: 422
    const other = await svc.api.POST('/v1/copies', { body: { ...spelled, retryTimes: 1 }, headers });
    assert.equal(other.response.status, 422);
    assert.equal(other.error?.code, 'IDEMPOTENCY_KEY_REUSED');
    const done = await waitForOperation(svc.api, first.data!, { timeoutMs: 120_000 });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));

    // a sync, too: its defaults spelled out
    const syncKey = { 'Idempotency-Key': `${key}-sync` };
    const body = { source: `${src.host}/kit/app`, sourceType: 'docker', destination: `${dst.host}/idem`, destinationType: 'docker', ...plain } as const;
    const s1 = await svc.api.POST('/v1/syncs', { body, headers: syncKey });
    assert.equal(s1.response.status, 202, JSON.stringify(s1.error));
    const s2 = await svc.api.POST('/v1/syncs', {
      body: { ...body, scoped: false, all: false, dryRun: false, keepGoing: false, preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none', labels: {} },
      headers: syncKey,
    });
    assert.equal(s2.data?.id, s1.data?.id, JSON.stringify(s2.error));
    await waitForOperation(svc.api, s1.data!, { timeoutMs: 120_000 });
  });

  it('waitForOperation rides out a service that is briefly unreachable (retries with backoff)', async () => {
    const { data } = await svc.api.POST('/v1/copies', { body: { source: S('kit/app:1.0'), destination: D('kit/retry:1.0'), ...plain } });
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (calls <= 2) throw new TypeError('fetch failed (simulated network error)');
      return fetch(input, init);
    };
    const client = createSkiffClient({ baseUrl: svc.url, fetch: flaky });
    const done = await waitForOperation(client, data as CopyOperation, { timeoutMs: 60_000, backoff: { baseMs: 50, maxMs: 200 } });
    assert.equal(done.state, 'succeeded');
    assert.ok(calls >= 3);
  });
});

/**
 * The kit's event-stream parser against streams a broken or hostile server could send, fed
 * through the client's own fetch hook (no service needed: this is the client's side).
 */
describe('watchOperation against a hostile event stream', () => {
  const encoder = new TextEncoder();
  /** A client whose events endpoint answers with `chunks` (pulled one at a time); `pulled` counts the bytes handed out. */
  const streaming = (chunks: () => Iterator<string>) => {
    const state = { pulled: 0, cancelled: false };
    const fetcher: typeof fetch = async () => {
      const it = chunks();
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = it.next();
          if (next.done) controller.close();
          else {
            state.pulled += next.value.length;
            controller.enqueue(encoder.encode(next.value));
          }
        },
        cancel() {
          state.cancelled = true;
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    };
    return { client: createSkiffClient({ baseUrl: 'http://127.0.0.1:9', fetch: fetcher }), state };
  };
  const finalState = (id: number) => `id: ${id}\nevent: state\ndata: {"id":"op-1","kind":"copy","state":"succeeded"}\n\n`;
  const collect = async (client: ReturnType<typeof createSkiffClient>) => {
    const seen: OperationEventOf[] = [];
    for await (const e of watchOperation(client, 'op-1', { maxReconnects: 0 })) seen.push(e);
    return seen;
  };

  it('an endless line fails the watch with EventStreamError once past MAX_EVENT_CHARS, reading no more than that', async () => {
    const { client, state } = streaming(function* () {
      yield 'event: state\ndata: ';
      for (;;) yield 'x'.repeat(64 * 1024);
    });
    await assert.rejects(collect(client), (e: unknown) => e instanceof EventStreamError && /exceeds 1048576 characters/.test(e.message));
    assert.ok(state.cancelled, 'the stream is closed');
    assert.ok(state.pulled <= MAX_EVENT_CHARS + 2 * 64 * 1024, `read ${state.pulled} characters`);
  });

  it('endless data lines without a blank line fail the same way (the event, not the line, is bounded)', async () => {
    const { client, state } = streaming(function* () {
      yield 'event: progress\n';
      for (;;) yield 'data: {"bytesDone":1}\n'.repeat(1000);
    });
    await assert.rejects(collect(client), EventStreamError);
    // 16 of every 22 characters sent are data: the 1 MiB of data is reached after ~1.4 MiB of stream
    assert.ok(state.pulled <= 2 * MAX_EVENT_CHARS, `read ${state.pulled} characters`);
  });

  // the timeout turns a quadratic parser (a rescan of the unfinished line per chunk: minutes) into a failure; linear takes well under a second
  it('a large event in tiny chunks is parsed in linear time (a rescan per chunk would not finish)', { timeout: 30_000 }, async () => {
    const big = 'y'.repeat(MAX_EVENT_CHARS - 4096);
    const text = `id: 1\nevent: progress\ndata: {"pad":"${big}"}\n\n${finalState(2)}`;
    const { client } = streaming(function* () {
      for (let i = 0; i < text.length; i += 8) yield text.slice(i, i + 8);
    });
    const seen = await collect(client);
    assert.deepEqual(
      seen.map((e) => e.event),
      ['progress', 'state'],
    );
    assert.equal((seen[0]!.data as unknown as { pad: string }).pad.length, big.length);
  });

  it('CRLF line ends split across chunks, CR-only and comment lines give exactly the events sent', async () => {
    const parts = ['id: 1\r', '\nevent: progress\r', '\ndata: {"bytesDone":5}\r', '\n\r', '\n: keep-alive\r\r', 'id: 2\revent: progress\rdata: {"bytesDone":6}\r\r', finalState(3)];
    const { client } = streaming(function* () {
      yield* parts;
    });
    const seen = await collect(client);
    assert.deepEqual(
      seen.map((e) => [e.id, e.event]),
      [
        [1, 'progress'],
        [2, 'progress'],
        [3, 'state'],
      ],
    );
  });
});
