/**
 * Submitting copies and syncs through the HTTP API and following the operations they start,
 * as the e2e suites do, through the client kit (clients/typescript). Contract: nothing here
 * asserts; callers check statuses and states.
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

/** Waits (the kit's long-poll with backoff) until an operation has finished (succeeded, failed or cancelled). */
export async function waitForOperation<R = Record<string, unknown>>(service: SkiffService, id: string, seconds = 120): Promise<Operation<R>> {
  const op = await waitForOperationKit(service.api, id, { timeoutMs: seconds * 1000, pollSeconds: 10 });
  return op as unknown as Operation<R>;
}
