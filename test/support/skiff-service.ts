import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createSkiffClient, type SkiffClient } from '../../clients/typescript/src/index';
import { startContractTap } from './contract-tap';
import { freePort } from './free-port';

/** The repository root (tests run from .test-build/test/…). */
export const REPO_ROOT = resolve(__dirname, '../../..');

export interface SkiffService {
  /** Where tests reach the service: through the recording contract tap when SKIFF_TEST_CONTRACT_DIR is set (npm test sets it), else directly. */
  url: string;
  /** The service's own address, bypassing the tap: for the few tests about TCP-level behaviour a tap cannot pass on faithfully (a reset racing an answer). */
  directUrl: string;
  /** The service's process id (for resource measurements). */
  pid: number;
  dataDir: string;
  logFile: string;
  /** The client kit's typed client (clients/typescript, generated from the committed openapi/openapi.json). */
  api: SkiffClient;
  /**
   * SIGTERM (graceful) and wait; removes the data dir unless `keepData` (or SKIFF_TEST_KEEP_DATA is set, to read logs after a failure). Throws (after cleaning
   * up) when the process had died before it was asked to stop — an unhandled rejection or any
   * crash of the service fails the test that started it.
   */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL: the process dies mid-work, as in a crash. The data dir is kept. Throws like stop() when it had died already. */
  kill(): Promise<void>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** The service log so far (for assertions that secrets never appear). */
  log(): string;
}

/** The service log as written so far ('' before the log stream has created the file). */
function logSoFar(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Starts the built service (`node dist/main.js`, the production start) on a free loopback port
 * with its own data directory, and waits until /healthz answers.
 */
export async function startSkiff(env: Record<string, string> = {}, opts: { dataDir?: string; launcher?: string[] } = {}): Promise<SkiffService> {
  const port = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'skiff-data-'));
  const logFile = join(dataDir, `service-${port}.log`);
  // created before the first poll below reads it (the stream opens it asynchronously)
  writeFileSync(logFile, '');
  const out = createWriteStream(logFile, { flags: 'a' });
  // `launcher`: a command the service is started through, e.g. ['prlimit', '--fsize=…', '--']
  const [command, ...args] = [...(opts.launcher ?? []), process.execPath, join(REPO_ROOT, 'dist/main.js')];
  const child: ChildProcess = spawn(command!, args, {
    cwd: dataDir,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: dataDir,
      SKIFF_HOST: '127.0.0.1',
      SKIFF_PORT: String(port),
      SKIFF_DATA_DIR: dataDir,
      SKIFF_LOG_LEVEL: 'debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const direct = `http://127.0.0.1:${port}`;
  let exited: number | null = null;
  let exitSignal: string | null = null;
  /** Set once stop() or kill() asked the process to end. */
  let ended = false;
  child.once('exit', (code, signal) => {
    exited = code ?? -1;
    exitSignal = signal;
  });
  /** The process died on its own (before stop() or kill()): the failure every test must see. */
  const diedOnItsOwn = (): Error | undefined =>
    exited === null || ended ? undefined : new Error(`skiff died on its own (exit ${exited}${exitSignal ? `, ${exitSignal}` : ''}); its log:\n${readFileSync(logFile, 'utf8').slice(-8000)}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`skiff exited with ${exited} during start:\n${logSoFar(logFile)}`);
    // Ours once it says it listens on this port (another process may have taken the port
    // between freePort() and our listen: then ours exits and a /healthz answer is not ours).
    if (logSoFar(logFile).includes(`skiff listening on http://127.0.0.1:${port}`)) {
      try {
        const res = await fetch(`${direct}/healthz`);
        if (res.ok) break;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`skiff did not become healthy:\n${logSoFar(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const tap = await startContractTap({ host: '127.0.0.1', port });
  // once the process is gone its port refuses connections: so does the tap's
  if (tap) child.once('exit', () => tap.close());
  const url = tap ? `http://127.0.0.1:${tap.port}` : direct;
  const api = createSkiffClient({ baseUrl: url });
  return {
    url,
    directUrl: direct,
    pid: child.pid!,
    dataDir,
    logFile,
    api,
    log: () => readFileSync(logFile, 'utf8'),
    alive: () => exited === null,
    async stop(stopOpts: { keepData?: boolean } = {}) {
      const died = diedOnItsOwn();
      ended = true;
      if (exited === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
        clearTimeout(timer);
        if (exited === null) child.kill('SIGKILL');
      }
      out.end();
      if (!stopOpts.keepData && !process.env['SKIFF_TEST_KEEP_DATA']) rmSync(dataDir, { recursive: true, force: true });
      if (died) throw died;
    },
    async kill() {
      const died = diedOnItsOwn();
      ended = true;
      if (exited === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await done;
      }
      out.end();
      if (died) throw died;
    },
  };
}

/** base64 JSON for the X-Registry-Auth header. */
export function registryAuthHeader(auth: Record<string, string>): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64');
}

/**
 * A registries file (SKIFF_REGISTRIES_CONFIG) that lets a shared-mode service (tokens or a
 * principals file) reach the tests' loopback registries: shared mode refuses loopback
 * addresses unless the registries file lists or allows them.
 */
export function loopbackRegistriesConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-registries-'));
  const file = join(dir, 'registries.yaml');
  writeFileSync(file, 'egress:\n  allowNetworks: ["127.0.0.0/8", "::1/128"]\n');
  return file;
}
