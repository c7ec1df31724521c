/**
 * Submitting copies and syncs through the HTTP API and following the operations they start,
 * as the e2e suites do, through the client kit (clients/typescript). Contract: nothing here asserts; callers check statuses and states
 * (copyFinished() and copySucceeded() throw when the copy did not end as they say).
 */
import { waitForOperation as waitForOperationKit } from '../../clients/typescript/src/index';
import type { SkiffService } from './skiff-service';

/**
 * An operation as the API answers it, loosely typed for suites that read fields by name
 * (`R` is the kind's result); the kit's `Operation` is the exact type.
 */
export interface Operation<R = Record<string, unknown>> {
  id: string;
  kind?: string;
  state: string;
  request: Record<string, unknown>;
  progress: Record<string, number | string>;
  result?: R;
  error?: { code: string; detail: string; status: number };
}

/** The answer to a submission: an Operation, or a problem (`code`, `detail`) for a refusal. */
export type Submitted<R> = Operation<R> & { code?: string; detail?: string };

/**
 * POSTs `body` to `/v1/copies` or `/v1/syncs` through the typed client; `wait` adds
 * `Prefer: wait=N`. `body` is sent as given (suites send invalid bodies on purpose).
 */
export async function submit<R = Record<string, unknown>>(
  service: SkiffService,
  kind: 'copies' | 'syncs',
  body: Record<string, unknown>,
  opts: { wait?: number; headers?: Record<string, string> } = {},
): Promise<{ res: Response; op: Submitted<R> }> {
  const headers = { ...(opts.wait !== undefined ? { prefer: `wait=${opts.wait}` } : {}), ...opts.headers };
  const answer =
    kind === 'copies'
      ? await service.api.POST('/v1/copies', { body: body as never, headers })
      : await service.api.POST('/v1/syncs', { body: body as never, headers });
  return { res: answer.response, op: (answer.data ?? answer.error) as unknown as Submitted<R> };
}

/**
 * POSTs a copy between plain-HTTP registries (tlsVerify false on both sides unless `body` says
 * otherwise), with `Prefer: wait=120` unless `wait` is false.
 */
export function submitCopy<R = Record<string, unknown>>(service: SkiffService, body: Record<string, unknown>, opts: { wait?: boolean } = {}): Promise<{ res: Response; op: Submitted<R> }> {
  return submit<R>(service, 'copies', { sourceTlsVerify: false, destinationTlsVerify: false, ...body }, opts.wait === false ? {} : { wait: 120 });
}

/**
 * submitCopy(), as the finished operation; a refusal (an error status) as an operation in state
 * `refused` carrying its problem. Throws when the copy had not finished within the wait.
 */
export async function copyFinished<R = Record<string, unknown>>(service: SkiffService, body: Record<string, unknown>): Promise<Operation<R>> {
  const { res, op } = await submitCopy<R>(service, body);
  if (res.status >= 400) return { id: '', request: {}, state: 'refused', progress: {}, error: { code: op.code!, detail: op.detail ?? '', status: res.status } };
  if (res.status !== 200) throw new Error(`copy ${JSON.stringify(body)}: HTTP ${res.status}, not finished: ${JSON.stringify(op)}`);
  return op;
}

/** copyFinished(), which succeeded; else throws naming the state and problem. */
export async function copySucceeded<R = Record<string, unknown>>(service: SkiffService, body: Record<string, unknown>): Promise<Operation<R>> {
  const op = await copyFinished<R>(service, body);
  if (op.state !== 'succeeded') throw new Error(`copy ${JSON.stringify(body)}: ${op.state}: ${JSON.stringify(op.error)}`);
  return op;
}

/** Waits (the kit's long-poll with backoff) until an operation has finished (succeeded, failed or cancelled). */
export async function waitForOperation<R = Record<string, unknown>>(service: SkiffService, id: string, seconds = 120): Promise<Operation<R>> {
  const op = await waitForOperationKit(service.api, id, { timeoutMs: seconds * 1000, pollSeconds: 10 });
  return op as unknown as Operation<R>;
}
