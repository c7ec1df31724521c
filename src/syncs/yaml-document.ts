import { parseDocument } from 'yaml';
import { Worker } from 'node:worker_threads';
import { DomainError, InvalidArgumentError } from '../errors/domain-error';

/** What a YAML document reads as: failsafe schema (every scalar a string), keys unique. */
export type YamlPlain = string | YamlPlain[] | { [key: string]: YamlPlain } | null;

/** The largest sync YAML document accepted (UTF-16 code units, i.e. characters). */
export const MAX_YAML_CHARS = 256 * 1024;
/** Documents up to this size are parsed on the event loop (a few milliseconds). */
const INLINE_CHARS = 8 * 1024;
/**
 * What a parse thread may use: its heap (parsing takes ~300 bytes of heap per byte of YAML) and
 * its time. The defaults are the service's; tests pass smaller ones to reach the limits.
 */
export interface YamlThreadLimits {
  heapMb: number;
  timeoutMs: number;
}
const THREAD_LIMITS: YamlThreadLimits = { heapMb: 256, timeoutMs: 15_000 };
/** Larger documents wait for the one parse thread; beyond this many waiting, SERVICE_BUSY. */
const MAX_WAITING = 4;

const OPTIONS = { parse: { schema: 'failsafe', uniqueKeys: true, prettyErrors: false }, toJS: { maxAliasCount: 100 } } as const;

/** The parse, the same on the event loop and on the thread: `{ value }` or `{ error }` (message). */
type Parsed = { value: YamlPlain | undefined } | { error: string; stage: 'parse' | 'toJS' | 'limit' };

function parseHere(text: string): Parsed {
  const doc = parseDocument(text, OPTIONS.parse);
  if (doc.errors.length > 0) return { error: doc.errors[0]!.message, stage: 'parse' };
  try {
    return { value: doc.toJS(OPTIONS.toJS) as YamlPlain | undefined };
  } catch (e) {
    return { error: (e as Error).message, stage: 'toJS' };
  }
}

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { parseDocument } = require(workerData.yamlPath);
const doc = parseDocument(workerData.text, workerData.options.parse);
if (doc.errors.length > 0) parentPort.postMessage({ error: doc.errors[0].message, stage: 'parse' });
else {
  try {
    parentPort.postMessage({ value: doc.toJS(workerData.options.toJS) });
  } catch (e) {
    parentPort.postMessage({ error: e.message, stage: 'toJS' });
  }
}
`;

let queue: Promise<unknown> = Promise.resolve();
let waiting = 0;

function parseOnThread(text: string, limits: YamlThreadLimits): Promise<Parsed> {
  if (waiting >= MAX_WAITING) {
    throw new DomainError('SERVICE_BUSY', `${waiting} large YAML documents are waiting to be parsed (at most ${MAX_WAITING}); retry in 5 s`, { retryable: true, retryAfterSeconds: 5 });
  }
  waiting++;
  const run = queue.then(() => {
    waiting--;
    return runThread(text, limits);
  });
  queue = run.catch(() => undefined);
  return run;
}

function runThread(text: string, limits: YamlThreadLimits): Promise<Parsed> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD, {
      eval: true,
      workerData: { text, yamlPath: require.resolve('yaml'), options: OPTIONS },
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb, maxYoungGenerationSizeMb: 16 },
    });
    // A parse still running at shutdown does not hold the process (its request is gone too).
    worker.unref();
    let answer: Parsed | undefined;
    const timer = setTimeout(() => {
      answer = { error: `the document took more than ${limits.timeoutMs / 1000} s to parse`, stage: 'limit' };
      void worker.terminate();
    }, limits.timeoutMs);
    worker.once('message', (m: Parsed) => (answer ??= m));
    worker.once('error', (e: Error & { code?: string }) => {
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') answer ??= { error: `the document needs more than ${limits.heapMb} MiB to parse`, stage: 'limit' };
      else reject(e);
    });
    worker.once('exit', () => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(new Error('the YAML parse thread ended without an answer'));
    });
  });
}

/**
 * The value of a YAML document (undefined or null when it is empty). Small documents are parsed
 * at once; larger ones on a thread of their own, one at a time, so a megabyte of YAML (seconds
 * of parsing, hundreds of MB of heap) never stops the event loop or grows the service's heap.
 * INVALID_ARGUMENT for a document over MAX_YAML_CHARS, one that does not parse, or one that is
 * too large or slow to parse; SERVICE_BUSY when too many large ones wait.
 */
export async function readYamlDocument(text: string, limits: YamlThreadLimits = THREAD_LIMITS): Promise<YamlPlain | undefined> {
  if (text.length > MAX_YAML_CHARS) throw new InvalidArgumentError(`yaml: the document has ${text.length} characters; at most ${MAX_YAML_CHARS} are accepted`);
  const parsed = text.length <= INLINE_CHARS ? parseHere(text) : await parseOnThread(text, limits);
  if ('error' in parsed) throw new InvalidArgumentError(parsed.stage === 'parse' ? `yaml: not a valid YAML document: ${parsed.error}` : `yaml: ${parsed.error}`);
  return parsed.value;
}
