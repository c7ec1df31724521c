/**
 * A real PostgreSQL server for tests, from Debian's `postgresql` package: `initdb` into a
 * fresh temp directory and `pg_ctl` on a free loopback port (and a private socket directory).
 *
 * Contract: `startPostgres` resolves once the server accepts connections. The server refuses
 * to run as root, so when the tests run as root it runs as the `postgres` user (made by the
 * package) through `runuser`, or `setpriv` where runuser is missing. Each `createDatabase()`
 * gives a fresh, empty database on that server (suites isolate themselves that way).
 * `restart()` stops (fast) and starts it again on the same port; `stop()` is idempotent and
 * removes the directory. A server not stopped is stopped at process exit. Tests that need it
 * skip when the binaries are absent, unless SKIFF_TEST_REQUIRE_POSTGRES=1 (CI).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { onExitSync } from './cleanup';
import { freePort } from './free-port';

const execFileP = promisify(execFile);

export interface TestPostgres {
  port: number;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication on loopback). */
  adminUrl: string;
  /** A new empty database; returns its connection URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Runs SQL as the superuser on `url` (default: the admin database). */
  sql(text: string, url?: string): Promise<unknown[]>;
  /** Stops the server (fast shutdown: connections are cut). */
  pause(): Promise<void>;
  /** Starts it again after pause(). */
  resume(): Promise<void>;
  /** pause() then resume(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  logFile: string;
}

/** The directory of the newest installed PostgreSQL's server binaries, if any. */
export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

/** Why PostgreSQL tests cannot run here (undefined: they can). */
export function postgresUnavailable(): string | undefined {
  if (!postgresBinDir()) return 'PostgreSQL server binaries not found under /usr/lib/postgresql (Debian package postgresql)';
  if (userInfo().uid === 0 && !hasUser('postgres')) return 'running as root and there is no "postgres" user to run the server as';
  return undefined;
}

/** Skip reason for node:test, or false; a failure instead when SKIFF_TEST_REQUIRE_POSTGRES=1. */
export function postgresSkip(): string | false {
  const why = postgresUnavailable();
  if (why && process.env['SKIFF_TEST_REQUIRE_POSTGRES'] === '1') throw new Error(`SKIFF_TEST_REQUIRE_POSTGRES=1 but ${why}`);
  return why ?? false;
}

function hasUser(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** argv that runs `bin` as the unprivileged server user when we are root. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  if (userInfo().uid !== 0) return [bin, args];
  // Absolute paths: a non-login root shell's PATH may lack the sbin directories.
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser'].find((p) => existsSync(p));
  if (runuser) return [runuser, ['-u', 'postgres', '--', bin, ...args]];
  // The account from /etc/passwd itself (an `id` program on the PATH is not to be trusted here).
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('postgres:'));
  if (!entry) throw new Error('no postgres user in /etc/passwd (the postgresql package creates it)');
  const [, , uid, gid] = entry.split(':');
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? 'setpriv';
  return [setpriv, [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', bin, ...args]];
}

async function run(bin: string, args: string[]): Promise<string> {
  const [cmd, argv] = asServerUser(bin, args);
  const { stdout } = await execFileP(cmd, argv, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
  return stdout;
}

let counter = 0;

/**
 * `durable`: keep PostgreSQL's defaults (fsync, synchronous commit, full page writes) instead of
 * the tests' unsafe-but-fast settings, for benchmarks whose figures must include the disk.
 */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(postgresUnavailable());
  const dir = mkdtempSync(join(process.env['SKIFF_TEST_TMPDIR'] || tmpdir(), 'skiff-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  let port = 0;
  const pgCtl = join(bin, 'pg_ctl');
  const startServer = async (): Promise<void> => {
    const fast = options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${fast}`;
    await run(pgCtl, ['-D', dataDir, '-l', logFile, '-o', opts, '-w', '-t', '60', 'start']);
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await startServer();
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
  let running = true;
  const stopNow = (): void => {
    if (!running) return;
    running = false;
    try {
      const [cmd, argv] = asServerUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      execFileSync(cmd, argv, { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onExitSync(stopNow);
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const sql = async (text: string, url = adminUrl): Promise<unknown[]> => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text)).rows as unknown[];
    } finally {
      await client.end();
    }
  };
  const pg: TestPostgres = {
    port,
    adminUrl,
    logFile,
    sql,
    async createDatabase(prefix = 'skiff') {
      const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${process.pid}_${++counter}`;
      await sql(`CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async pause() {
      await run(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
    async resume() {
      for (let attempt = 0; ; attempt++) {
        try {
          await startServer();
          return;
        } catch (e) {
          if (attempt >= 5) throw e;
          await sleep(500);
        }
      }
    },
    async restart() {
      await pg.pause();
      await pg.resume();
    },
    async stop() {
      unregister();
      stopNow();
    },
  };
  return pg;
}
