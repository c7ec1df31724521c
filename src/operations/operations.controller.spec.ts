/**
 * /v1/operations and the submit answer (answerSubmit) over real HTTP, in process: the
 * operations module with a test runner and a test submit route shaped like the copies one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Injectable, Module, type OnModuleInit, Post, Res, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { IsIn, IsObject, IsOptional, IsString } from 'class-validator';
import type { Response } from 'express';
import type { NextFunction, Request } from 'express';
import type { Principal } from '../auth/principal';
import type { Scope } from '../config/principals-file';
import type { CopyRequest } from '../transfers/copy-request';
import { loadConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { CurrentPrincipal, LOCAL_PRINCIPAL } from '../http/current-principal.decorator';
import { ProblemFilter } from '../http/problem.filter';
import { RequestValidationError } from '../http/request-validation.error';
import type { TransferSecrets } from '../transfers/transfer-secrets';
import type { OperationRunContext } from './operation';
import type { OperationDto as Operation } from './operations.dto';
import { OperationsModule } from './operations.module';
import { OperationsService } from './operations.service';
import { answerSubmit, ApiSubmitResponses, parseIdempotencyKey, parsePreferWait, SubmitPreferences, type SubmitPreferencesValue } from './submit-response';

class TestSubmitDto {
  @IsIn(['succeed', 'fail', 'block', 'slow'])
  mode: string;

  @IsOptional()
  @IsString()
  tag?: string;

  @IsOptional()
  @IsObject()
  sourceAuth?: Record<string, unknown>;

  @IsOptional()
  @IsObject()
  labels?: Record<string, string>;
}

/**
 * Tests set the caller with `x-test-principal: NAME[|scope,scope]`; without the header it is the
 * local user, as the authentication middleware (not mounted here) decides without tokens.
 */
function testPrincipal(req: Request & { principal?: Principal }, _res: unknown, next: NextFunction): void {
  const header = req.headers['x-test-principal'];
  if (typeof header === 'string') {
    const [name, scopes = ''] = header.split('|');
    req.principal = { name: name!, scopes: new Set(scopes.split(',').filter(Boolean) as Scope[]) };
  } else {
    req.principal = LOCAL_PRINCIPAL;
  }
  next();
}


/** Blocking runs wait for their signal; `slow` ones take 300 ms. */
@Injectable()
class TestRunnerRegistration implements OnModuleInit {
  readonly signals = new Map<string, AbortSignal>();
  readonly secrets = new Map<string, TransferSecrets | undefined>();

  constructor(private readonly operations: OperationsService) {}

  onModuleInit(): void {
    this.operations.registerRunner({
      kind: 'copy',
      run: async (request: CopyRequest, ctx: OperationRunContext) => {
        this.signals.set(ctx.operationId, ctx.signal);
        this.secrets.set(ctx.operationId, ctx.secrets);
        const mode = request.source.replace(/^test:/, '');
        if (mode === 'fail') throw new RequestValidationError([{ field: 'source', message: 'nope' }]);
        if (mode === 'slow') await sleep(300);
        if (mode === 'block') {
          ctx.progress({ phase: 'copying', bytesTotal: 10 });
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true }));
        }
        return { digest: 'sha256:test', mediaType: 'm', manifests: [] };
      },
    });
  }
}

@Controller('test/copies')
class TestSubmitController {
  constructor(private readonly operations: OperationsService) {}

  @Post()
  @ApiSubmitResponses({ action: 'starting test operations', what: 'test request', answers: {} })
  create(@Body() body: TestSubmitDto, @SubmitPreferences() prefs: SubmitPreferencesValue, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() principal: Principal) {
    const request: CopyRequest = {
      source: `test:${body.mode}`,
      destination: `n:${body.tag ?? ''}`,
      sourceTlsVerify: true,
      destinationTlsVerify: true,
      multiArch: 'system',
      preserveDigests: false,
      removeSignatures: false,
      retryTimes: 3,
      referrers: 'none',
    };
    const secrets = body.sourceAuth ? ({ sourceAuth: body.sourceAuth } as unknown as TransferSecrets) : undefined;
    return answerSubmit(this.operations, res, { principal, draft: { kind: 'copy', request }, labels: body.labels, secrets }, prefs);
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'skiff-ops-http-'));
let app: NestExpressApplication;
let base: string;
let registration: TestRunnerRegistration;

before(async () => {
  const config = loadConfig({ SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'silent', SKIFF_SHUTDOWN_GRACE_SECONDS: '0' }, dataDir);
  @Module({
    imports: [ConfigModule.forRoot(config), OperationsModule],
    controllers: [TestSubmitController],
    providers: [TestRunnerRegistration],
  })
  class TestModule {}
  app = await NestFactory.create<NestExpressApplication>(TestModule, { logger: false });
  app.use(testPrincipal);
  app.set('query parser', 'simple');
  app.useGlobalPipes(
    new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true, exceptionFactory: (errors) => RequestValidationError.fromClassValidator(errors) }),
  );
  app.useGlobalFilters(new ProblemFilter());
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  registration = app.get(TestRunnerRegistration);
});

after(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function submit(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/test/copies`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { res, body: (await res.json()) as Operation & { code?: string; errors?: unknown[] } };
}

async function getJson<T>(path: string, init?: RequestInit): Promise<{ res: Response; body: T }> {
  const res = await fetch(`${base}${path}`, init);
  return { res: res as unknown as Response, body: (res.status === 204 ? undefined : await res.json()) as T };
}

interface SseEvent {
  id: string;
  event: string;
  data: unknown;
}

/** Reads a whole event stream (until the server ends it). */
async function readStream(path: string, headers: Record<string, string> = {}, onEvent?: (e: SseEvent) => void): Promise<{ status: number; contentType: string; events: SseEvent[] }> {
  const res = await fetch(`${base}${path}`, { headers });
  const contentType = res.headers.get('content-type') ?? '';
  if (res.status !== 200) return { status: res.status, contentType, events: [] };
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (block.startsWith(':')) continue;
      const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      const e = { id: fields['id']!, event: fields['event']!, data: JSON.parse(fields['data']!) as unknown };
      events.push(e);
      onEvent?.(e);
    }
  }
  return { status: res.status, contentType, events };
}

const stateOf = (e: SseEvent) => `${e.event}${e.event === 'state' ? ':' + (e.data as Operation).state : ''}`;

describe('submit answers', () => {
  it('202 with Location and the queued operation; the request is echoed without secrets', async () => {
    const { res, body } = await submit({ mode: 'succeed', tag: 'a', sourceAuth: { username: 'u', password: 'pw-secret' } });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('location'), `/v1/operations/${body.id}`);
    assert.equal(res.headers.get('preference-applied'), null);
    assert.equal(body.state, 'queued');
    assert.equal(body.kind, 'copy');
    assert.deepEqual(body.request, { source: 'test:succeed', destination: 'n:a', sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none' });
    assert.equal(body.owner, 'local');
    assert.equal(body.attempts, 0);
    const done = await getJson<Operation>(`${res.headers.get('location')}?waitSeconds=5`);
    assert.equal(done.body.state, 'succeeded');
    assert.deepEqual(done.body.result, { digest: 'sha256:test', mediaType: 'm', manifests: [] });
    assert.deepEqual(registration.secrets.get(body.id), { sourceAuth: { username: 'u', password: 'pw-secret' } });
    assert.doesNotMatch(JSON.stringify(done.body), /pw-secret/);
  });

  it('Prefer: wait=N answers 200 with the finished operation, or 202 when N passes', async () => {
    const quick = await submit({ mode: 'slow' }, { prefer: 'respond-async, wait=10' });
    assert.equal(quick.res.status, 200);
    assert.equal(quick.res.headers.get('preference-applied'), 'wait=10');
    assert.equal(quick.body.state, 'succeeded');
    const t = Date.now();
    const slow = await submit({ mode: 'block' }, { prefer: 'wait=1' });
    assert.ok(Date.now() - t >= 900);
    assert.equal(slow.res.status, 202);
    assert.equal(slow.res.headers.get('preference-applied'), 'wait=1');
    assert.equal(slow.body.state, 'running');
    const failed = await submit({ mode: 'fail' }, { prefer: 'wait=10' });
    assert.equal(failed.res.status, 200);
    assert.equal(failed.body.state, 'failed');
    assert.equal(failed.body.error?.code, 'INVALID_ARGUMENT');
    assert.equal(failed.body.error?.instance, `/v1/operations/${failed.body.id}`);
    await fetch(`${base}/v1/operations/${slow.body.id}/cancel`, { method: 'POST' });
  });

  it('Idempotency-Key: same body → the same operation, different body → 422, malformed → 400', async () => {
    const key = `key-${Date.now()}`;
    const first = await submit({ mode: 'succeed', tag: 'idem' }, { 'idempotency-key': key });
    assert.equal(first.res.status, 202);
    assert.equal(first.res.headers.get('idempotent-replayed'), null);
    await getJson(`/v1/operations/${first.body.id}?waitSeconds=5`);
    const again = await submit({ tag: 'idem', mode: 'succeed' }, { 'idempotency-key': `"${key}"` });
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.res.status, 200, 'a replay of a finished operation answers it as finished');
    assert.equal(again.res.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.res.headers.get('location'), `/v1/operations/${first.body.id}`);
    const other = await submit({ mode: 'succeed', tag: 'different' }, { 'idempotency-key': key });
    assert.equal(other.res.status, 422);
    assert.match(other.res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(other.body.code, 'IDEMPOTENCY_KEY_REUSED');
    const bad = await submit({ mode: 'succeed' }, { 'idempotency-key': 'x'.repeat(256) });
    assert.equal(bad.res.status, 400);
    assert.deepEqual(bad.body.errors, [{ field: 'Idempotency-Key', message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' }]);
  });

  it('parses the headers leniently where RFCs say so', () => {
    assert.equal(parsePreferWait(undefined), undefined);
    assert.equal(parsePreferWait('wait=5'), 5);
    assert.equal(parsePreferWait('respond-async, Wait = "7"'), 7);
    assert.equal(parsePreferWait('wait=100000'), 300);
    assert.equal(parsePreferWait('wait=0'), undefined);
    assert.equal(parsePreferWait('wait=soon, return=minimal'), undefined);
    assert.equal(parseIdempotencyKey('"a \\"quoted\\" key"'), 'a "quoted" key');
    assert.equal(parseIdempotencyKey(undefined), undefined);
    assert.throws(() => parseIdempotencyKey(''), RequestValidationError);
    assert.throws(() => parseIdempotencyKey('caf\u00e9'), RequestValidationError);
  });
});

describe('/v1/operations', () => {
  it('GET, cancel, DELETE and their conflicts', async () => {
    const { body: op } = await submit({ mode: 'block' });
    await sleep(50);
    const running = await getJson<Operation>(`/v1/operations/${op.id}`);
    assert.equal(running.res.status, 200);
    assert.equal(running.body.state, 'running');
    assert.equal(running.body.progress.bytesTotal, 10);
    const del = await getJson<{ code: string }>(`/v1/operations/${op.id}`, { method: 'DELETE' });
    assert.equal(del.res.status, 409);
    assert.equal(del.body.code, 'OPERATION_CONFLICT');
    const cancel = await getJson<Operation>(`/v1/operations/${op.id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'changed my mind' }) });
    assert.equal(cancel.res.status, 202);
    assert.equal(cancel.body.state, 'cancelling');
    assert.deepEqual([cancel.body.cancellation?.by, cancel.body.cancellation?.reason], ['local', 'changed my mind']);
    assert.ok(registration.signals.get(op.id)?.aborted);
    const final = await getJson<Operation>(`/v1/operations/${op.id}?waitSeconds=5`);
    assert.equal(final.body.state, 'cancelled');
    const again = await getJson<{ code: string; status: number }>(`/v1/operations/${op.id}/cancel`, { method: 'POST' });
    assert.equal(again.res.status, 409);
    assert.equal(again.body.code, 'OPERATION_CONFLICT');
    const gone = await getJson(`/v1/operations/${op.id}`, { method: 'DELETE' });
    assert.equal(gone.res.status, 204);
    const missing = await getJson<{ code: string; instance: string }>(`/v1/operations/${op.id}`);
    assert.equal(missing.res.status, 404);
    assert.equal(missing.body.code, 'OPERATION_NOT_FOUND');
    assert.equal(missing.body.instance, `/v1/operations/${op.id}`);
  });

  it('validates queries', async () => {
    for (const q of ['pageSize=0', 'pageSize=501', 'pageSize=ten', 'state=done', 'kind=move', 'pageToken=%21%21', 'unknown=1', 'label=novalue', 'label=a%20b=c', 'createdAfter=yesterday']) {
      const r = await getJson<{ code: string }>(`/v1/operations?${q}`);
      assert.equal(r.res.status, 400, q);
      assert.equal(r.body.code, 'INVALID_ARGUMENT', q);
    }
    const { body: op } = await submit({ mode: 'succeed' });
    for (const q of ['waitSeconds=301', 'waitSeconds=-1', 'waitSeconds=x']) {
      assert.equal((await getJson(`/v1/operations/${op.id}?${q}`)).res.status, 400, q);
    }
  });

  it('lists newest first a page at a time, with filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit({ mode: 'succeed', tag: `list-${i}` })).body.id);
    for (const id of ids) await getJson(`/v1/operations/${id}?waitSeconds=5`);
    const page1 = await getJson<{ operations: Operation[]; nextPageToken?: string }>('/v1/operations?pageSize=2&state=succeeded&kind=copy');
    assert.deepEqual(page1.body.operations.map((o) => o.id), [ids[4], ids[3]]);
    assert.ok(page1.body.nextPageToken);
    const page2 = await getJson<{ operations: Operation[]; nextPageToken?: string }>(`/v1/operations?pageSize=2&state=succeeded&kind=copy&pageToken=${page1.body.nextPageToken}`);
    assert.deepEqual(page2.body.operations.map((o) => o.id), [ids[2], ids[1]]);
    const none = await getJson<{ operations: Operation[]; nextPageToken?: string }>('/v1/operations?kind=sync');
    assert.deepEqual(none.body, { operations: [] });
  });

  it('filters by repeated label=key=value and by creation time', async () => {
    const a = (await submit({ mode: 'succeed', labels: { team: 'red', env: 'prod' } })).body;
    const b = (await submit({ mode: 'succeed', labels: { team: 'red', env: 'dev' } })).body;
    const both = await getJson<{ operations: Operation[] }>('/v1/operations?label=team=red');
    assert.deepEqual(both.body.operations.map((o) => o.id), [b.id, a.id]);
    const prod = await getJson<{ operations: Operation[] }>('/v1/operations?label=team=red&label=env=prod');
    assert.deepEqual(prod.body.operations.map((o) => o.id), [a.id]);
    assert.deepEqual(prod.body.operations[0]!.labels, { env: 'prod', team: 'red' });
    const later = await getJson<{ operations: Operation[] }>(`/v1/operations?label=team=red&createdAfter=${encodeURIComponent(a.createdAt)}`);
    assert.deepEqual(later.body.operations.map((o) => o.id), [b.id]);
    const bad = await submit({ mode: 'succeed', labels: { 'not ok': 'x' } });
    assert.equal(bad.res.status, 400);
    assert.equal(bad.body.code, 'INVALID_ARGUMENT');
  });

  it('ownership: another principal gets 404 for everything; operations:read-all sees it', async () => {
    const alice = { 'x-test-principal': 'alice|images:write' };
    const { body: op } = await submit({ mode: 'block' }, alice);
    assert.equal(op.owner, 'alice');
    const bob = { 'x-test-principal': 'bob|images:write' };
    for (const [path, method] of [
      [`/v1/operations/${op.id}`, 'GET'],
      [`/v1/operations/${op.id}?waitSeconds=1`, 'GET'],
      [`/v1/operations/${op.id}/events`, 'GET'],
      [`/v1/operations/${op.id}/cancel`, 'POST'],
      [`/v1/operations/${op.id}`, 'DELETE'],
    ] as const) {
      const r = await getJson<{ code: string }>(path, { method, headers: bob });
      assert.equal(r.res.status, 404, `${method} ${path}`);
      assert.equal(r.body.code, 'OPERATION_NOT_FOUND');
    }
    assert.deepEqual((await getJson<{ operations: Operation[] }>('/v1/operations', { headers: bob })).body.operations, []);
    const ops = { 'x-test-principal': 'ops|operations:read-all' };
    assert.ok((await getJson<{ operations: Operation[] }>('/v1/operations', { headers: ops })).body.operations.some((o) => o.id === op.id));
    // Idempotency keys are per principal: the same key from bob is a new operation.
    const k = { 'idempotency-key': `shared-${Date.now()}` };
    const fromAlice = await submit({ mode: 'succeed' }, { ...alice, ...k });
    const fromBob = await submit({ mode: 'succeed' }, { ...bob, ...k });
    assert.notEqual(fromAlice.body.id, fromBob.body.id);
    const cancelled = await getJson<Operation>(`/v1/operations/${op.id}/cancel`, { method: 'POST', headers: alice });
    assert.equal(cancelled.res.status, 202);
  });

  it('streams events: current state first, live events, the end; resumes with Last-Event-ID', async () => {
    const { body: op } = await submit({ mode: 'block' });
    await sleep(50);
    const seen: string[] = [];
    const streaming = readStream(`/v1/operations/${op.id}/events`, {}, (e) => {
      seen.push(stateOf(e));
      if (seen.length === 1) void fetch(`${base}/v1/operations/${op.id}/cancel`, { method: 'POST' });
    });
    const live = await streaming;
    assert.equal(live.status, 200);
    assert.match(live.contentType, /^text\/event-stream/);
    assert.deepEqual(live.events.map(stateOf), ['state:running', 'state:cancelling', 'state:cancelled']);
    assert.deepEqual(
      live.events.map((e) => Number(e.id)),
      [3, 4, 5],
      'queued, running, progress are events 1-3',
    );
    const resumed = await readStream(`/v1/operations/${op.id}/events`, { 'last-event-id': '1' });
    assert.deepEqual(resumed.events.map(stateOf), ['state:running', 'progress', 'state:cancelling', 'state:cancelled']);
    assert.deepEqual(resumed.events[1]!.data, { phase: 'copying', bytesTotal: 10, bytesDone: 0, bytesSkipped: 0, blobsTotal: 0, blobsDone: 0, blobsSkipped: 0, blobsMounted: 0, imagesTotal: 0, imagesDone: 0 });
    const finished = await readStream(`/v1/operations/${op.id}/events`);
    assert.deepEqual(finished.events.map(stateOf), ['state:cancelled']);
    const unknown = await readStream('/v1/operations/01JDQ3X4M5N6P7Q8R9S0T1V2W3/events');
    assert.equal(unknown.status, 404);
    assert.match(unknown.contentType, /^application\/problem\+json/);
    const bad = await readStream(`/v1/operations/${op.id}/events`, { 'last-event-id': 'abc' });
    assert.equal(bad.status, 400);
  });

  it('a client that goes away stops its stream and its long-poll', async () => {
    const { body: op } = await submit({ mode: 'block' });
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/operations/${op.id}/events`, { signal: ac.signal });
    assert.equal(res.status, 200);
    const poll = fetch(`${base}/v1/operations/${op.id}?waitSeconds=300`, { signal: ac.signal }).catch((e: unknown) => e);
    await sleep(50);
    ac.abort();
    assert.ok((await poll) instanceof Error);
    await fetch(`${base}/v1/operations/${op.id}/cancel`, { method: 'POST' });
  });
});
