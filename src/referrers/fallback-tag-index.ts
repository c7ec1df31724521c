import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, DomainError } from '../errors/domain-error';
import { MediaType } from '../image-spec/media-types';
import { type ReferrerDescriptor, mergeReferrersIndex, parseReferrersIndex } from '../image-spec/referrers';

/**
 * Keeping a fallback referrers tag (`sha256-<hex>`: an index of the referrers of that digest,
 * for registries without the referrers API) up to date while other writers — other copies,
 * other tools — add to the same tag at the same moment.
 *
 * The algorithm (read, merge, write, confirm):
 * 1. read the tag (its digest, or absent);
 * 2. merge: the current index kept as it is (every other writer's entry and field), with the
 *    descriptors it lacks appended; nothing lacking and nothing written yet: done;
 * 3. write with a precondition — `If-Match: "<digest read>"`, or `If-None-Match: *` when the
 *    tag was absent. A registry that honours preconditions answers 412 when someone wrote in
 *    between: go back to 1 (after a short random pause);
 * 4. confirm: after a settle pause, read again; when every descriptor of ours is listed, done;
 *    when one is missing (a writer that read before our write wrote after it), go back to 2.
 *
 * What that guarantees:
 * - With a registry that honours the preconditions, no update is ever lost: each write is based
 *   on the version it replaces.
 * - With one that ignores them (CNCF distribution 2.8 does), a writer returns only once it has
 *   read back an index holding all its entries after the settle pause. An entry can still be
 *   lost if another writer read the tag before our write and wrote it after our confirming read,
 *   i.e. when that writer's read-to-write took longer than the settle pause — and that writer
 *   then confirms only its own entries. Writers using this algorithm re-merge the whole current
 *   index, so the window is one other writer's read-to-write time; the loser's next copy (or a
 *   sync re-run) restores the entry, since an up-to-date referrer is still recorded.
 * - Entries are never removed by us; an index that keeps changing fails after `maxAttempts`
 *   (UPSTREAM_UNAVAILABLE, retryable), never silently.
 */

/** The tag's storage, as a registry (or a test) offers it. */
export interface TagIndexStore {
  /** The tag's current manifest (its digest computed from its bytes), or undefined when absent. */
  read(tag: string, signal: AbortSignal): Promise<{ digest: string; bytes: Buffer } | undefined>;
  /** Writes the tag; `precondition-failed` when the store honoured a precondition that failed. */
  write(tag: string, bytes: Buffer, mediaType: string, cond: { ifMatch?: string; ifNoneMatch?: boolean }, signal: AbortSignal): Promise<'written' | 'precondition-failed'>;
}

export interface FallbackIndexOptions {
  signal: AbortSignal;
  /** Rounds of read-merge-write before giving up; default 8. */
  maxAttempts?: number;
  /** Pause before the confirming read, in ms; default 250 (randomised ±50%). */
  settleMs?: number;
  /** For tests: the pause function. */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface FallbackIndexOutcome {
  /** Whether this call wrote the tag (false: it already listed everything). */
  written: boolean;
  /** Rounds it took. */
  attempts: number;
  /** Whether the store turned a write down with 412 at least once (it honours preconditions). */
  preconditionsHonoured: boolean;
}

const defaultPause = async (ms: number, signal: AbortSignal): Promise<void> => {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new AbortedError('the copy was cancelled');
  }
};

/** Adds `ours` to the fallback index at `tag` (see the module comment for the guarantee). */
export async function addToFallbackIndex(store: TagIndexStore, tag: string, ours: readonly ReferrerDescriptor[], opts: FallbackIndexOptions): Promise<FallbackIndexOutcome> {
  const maxAttempts = opts.maxAttempts ?? 8;
  const settle = opts.settleMs ?? 250;
  const pause = opts.pause ?? defaultPause;
  const jitter = (ms: number) => Math.round(ms * (0.5 + Math.random()));
  const what = `the referrers tag ${tag}`;
  let written = false;
  let preconditionsHonoured = false;
  let current = await store.read(tag, opts.signal);
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (opts.signal.aborted) throw new AbortedError('the copy was cancelled');
    const { bytes, missing } = mergeReferrersIndex(current?.bytes, ours, what);
    if (missing.length === 0) return { written, attempts: attempt, preconditionsHonoured };
    const outcome = await store.write(tag, bytes, MediaType.ociIndex, current ? { ifMatch: current.digest } : { ifNoneMatch: true }, opts.signal);
    if (outcome === 'precondition-failed') {
      preconditionsHonoured = true;
      await pause(jitter(settle / 5), opts.signal);
      current = await store.read(tag, opts.signal);
      continue;
    }
    written = true;
    await pause(jitter(settle), opts.signal);
    current = await store.read(tag, opts.signal);
    if (current && listsEvery(current.bytes, ours, what)) return { written, attempts: attempt, preconditionsHonoured };
  }
  throw new DomainError('UPSTREAM_UNAVAILABLE', `${what} kept changing under concurrent writers: ${maxAttempts} rounds did not leave it listing every referrer; try again`, { retryable: true });
}

function listsEvery(bytes: Buffer, ours: readonly ReferrerDescriptor[], what: string): boolean {
  const listed = new Set(parseReferrersIndex(bytes, what).map((d) => d.digest));
  return ours.every((d) => listed.has(d.digest));
}
