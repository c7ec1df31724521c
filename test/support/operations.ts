/**
 * Submitting copies and syncs through the HTTP API and following the operations they start,
 * as the e2e suites do. Contract: nothing here asserts; callers check statuses and states
 * (copyFinished() and copySucceeded() throw when the copy did not end as they say).
 */
import type { SkiffService } from './skiff-service';

/** An operation as the API answers it (see API.md); `R` is the kind's result. */
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

/** POSTs `body` to `/v1/copies` or `/v1/syncs`; `wait` adds `Prefer: wait=N`. */
export async function submit<R = Record<string, unknown>>(
  service: SkiffService,
  kind: 'copies' | 'syncs',
  body: Record<string, unknown>,
  opts: { wait?: number; headers?: Record<string, string> } = {},
): Promise<{ res: Response; op: Submitted<R> }> {
  const res = await fetch(`${service.url}/v1/${kind}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.wait !== undefined ? { prefer: `wait=${opts.wait}` } : {}), ...opts.headers },
    body: JSON.stringify(body),
  });
  return { res, op: (await res.json()) as Submitted<R> };
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

/** Long-polls an operation until it has finished (succeeded, failed or cancelled). */
export async function waitForOperation<R = Record<string, unknown>>(service: SkiffService, id: string, seconds = 120): Promise<Operation<R>> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const op = (await (await fetch(`${service.url}/v1/operations/${id}?waitSeconds=10`)).json()) as Operation<R>;
    if (['succeeded', 'failed', 'cancelled'].includes(op.state)) return op;
    if (Date.now() > deadline) throw new Error(`operation ${id} still ${op.state}`);
  }
}
