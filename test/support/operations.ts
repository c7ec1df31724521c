/**
 * Submitting copies and syncs through the HTTP API and following the operations they start,
 * as the e2e suites do. Contract: nothing here asserts; callers check statuses and states.
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

/** Long-polls an operation until it has finished (succeeded, failed or cancelled). */
export async function waitForOperation<R = Record<string, unknown>>(service: SkiffService, id: string, seconds = 120): Promise<Operation<R>> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const op = (await (await fetch(`${service.url}/v1/operations/${id}?waitSeconds=10`)).json()) as Operation<R>;
    if (['succeeded', 'failed', 'cancelled'].includes(op.state)) return op;
    if (Date.now() > deadline) throw new Error(`operation ${id} still ${op.state}`);
  }
}
