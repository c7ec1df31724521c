import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { syncPublishedDirectory, writeFileAtomicSync } from '../storage/atomic-write';
import { SQLITE_MIGRATIONS } from './migrations';
import { sqliteCode, StartupRefusedError } from './database-errors';

/** What a data directory records about the database it held (`skiff.db.identity`, JSON). */
interface StoreIdentity {
  storeId: string;
  createdAt: string;
}

export interface SqliteOpenOptions {
  /** Start on a new database even though the data directory held one (SKIFF_START_FRESH). */
  startFresh: boolean;
  /** Told what was set aside or created (the caller logs it). */
  notice?: (message: string) => void;
}

const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/**
 * The backup thread: its own read-only connection to the database file writes a consistent
 * copy (`VACUUM INTO`, one read transaction: a snapshot of the WAL) while the service's own
 * connection goes on reading and writing. node:sqlite's online backup() was tried and left:
 * it runs its steps on the thread pool with the service's connection and fails ("not an
 * error") whenever a step meets one of that connection's write transactions.
 */
const BACKUP_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const { openSync, fsyncSync, closeSync } = require('node:fs');
const db = new DatabaseSync(workerData.source, { readOnly: true, timeout: 5000 });
try {
  db.prepare('VACUUM INTO ?').run(workerData.target);
} finally {
  db.close();
}
// The copy is as big as the database: its fsync, too, stays off the service's event loop.
const fd = openSync(workerData.target, 'r');
try {
  fsyncSync(fd);
} finally {
  closeSync(fd);
}
parentPort.postMessage('done');
`;

const FRESH_HINT = 'set SKIFF_START_FRESH=true to set it aside and start with an empty database, or restore a backup (README: "Backups")';

/**
 * The embedded SQLite database (`node:sqlite`; WAL; the operations store makes its commits
 * durable off the event loop, see WalFlusher), checked rather than
 * trusted:
 * - a data directory that held operations records it in an identity file beside the
 *   database; an empty, missing, unreadable or foreign database then refuses to start
 *   (StartupRefusedError naming the file and the way out) unless `startFresh`, which sets
 *   the old file aside (`skiff.db.set-aside-<time>`) and starts anew;
 * - `PRAGMA quick_check` at start: damage found there (or met later by any statement, see
 *   `noteError`) is kept in `damage`, which readiness reports, instead of 500s later;
 * - migrations run inside BEGIN IMMEDIATE: SQLite's write lock lets one process at a time.
 * Synchronous: every call is short; the caller's event loop never waits on the network. A backup
 * is the exception: it runs in steps, asynchronously.
 */
export class SqliteDatabase {
  readonly engine = 'sqlite' as const;
  readonly db: DatabaseSync;
  readonly identityPath: string;
  /** Why the database cannot be trusted (quick_check or a corruption met later); undefined when fine. */
  damage: string | undefined;
  private closed = false;
  private txDepth = 0;
  private backingUp = false;

  private constructor(
    readonly path: string,
    options: SqliteOpenOptions,
  ) {
    this.identityPath = `${path}.identity`;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const identity = readIdentity(this.identityPath);
    const size = fileSize(path);
    const refuse = (what: string): never => {
      if (options.startFresh) throw new SetAside(what);
      throw new StartupRefusedError(`the operations database ${path} ${what}, but this data directory held operations (${this.identityPath} records store ${identity?.storeId ?? '?'}); ${FRESH_HINT}`);
    };
    let db: DatabaseSync | undefined;
    try {
      if (identity && size === undefined) refuse('is missing');
      if (identity && size === 0) refuse('is empty (0 bytes)');
      db = new DatabaseSync(path, { timeout: 5000 });
      let version: number;
      try {
        db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
        version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
      } catch (e) {
        const code = sqliteCode(e);
        if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) {
          db.close();
          db = undefined;
          if (identity) refuse(`cannot be read (${(e as Error).message})`);
          if (options.startFresh) throw new SetAside('cannot be read');
          throw new StartupRefusedError(`the operations database ${path} cannot be read (${(e as Error).message}); ${FRESH_HINT}`);
        }
        throw e;
      }
      if (identity && version === 0) {
        db.close();
        db = undefined;
        refuse('holds no operations schema');
      }
      this.db = db as DatabaseSync;
    } catch (e) {
      if (!(e instanceof SetAside)) throw e;
      db?.close();
      const aside = setAside(path);
      rmSync(this.identityPath, { force: true });
      options.notice?.(`SKIFF_START_FRESH: the operations database ${path} ${e.message}; it was moved to ${aside} and a new one is created`);
      this.db = new DatabaseSync(path, { timeout: 5000 });
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
    }
    this.damage = this.quickCheck();
    try {
      this.migrate();
    } catch (e) {
      this.db.close();
      throw new StartupRefusedError(`the operations database ${path} could not be brought to the current schema: ${(e as Error).message}${this.damage ? ` (it is damaged: ${this.damage})` : ''}; ${FRESH_HINT}`);
    }
    const storeId = this.storeId();
    const recorded = readIdentity(this.identityPath);
    if (recorded && recorded.storeId !== storeId && !options.startFresh) {
      this.db.close();
      throw new StartupRefusedError(
        `the operations database ${path} is store ${storeId}, but this data directory held store ${recorded.storeId} (${this.identityPath}): another database was put in its place; put the right file back, or ${FRESH_HINT}`,
      );
    }
    if (recorded?.storeId !== storeId) writeIdentity(this.identityPath, { storeId, createdAt: new Date().toISOString() });
  }

  /** Opens (creating or migrating) the database at `path`, after the checks above. */
  static open(path: string, options: SqliteOpenOptions = { startFresh: false }): SqliteDatabase {
    return new SqliteDatabase(path, options);
  }

  get schemaVersion(): number {
    return Number((this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private quickCheck(): string | undefined {
    try {
      const rows = this.db.prepare('PRAGMA quick_check(5)').all() as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
      return problems.length > 0 ? `quick_check: ${problems.join('; ')}` : undefined;
    } catch (e) {
      return `quick_check failed: ${(e as Error).message}`;
    }
  }

  /** Records a corruption met by a statement, so readiness fails from now on. */
  noteError(e: unknown): void {
    const code = sqliteCode(e);
    if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB) this.damage ??= `${(e as Error).message} (met at ${new Date().toISOString()})`;
  }

  private migrate(): void {
    const current = this.schemaVersion;
    const latest = SQLITE_MIGRATIONS.length;
    if (current > latest) throw new Error(`schema version ${current} is newer than this skiff understands (${latest}); use a newer skiff`);
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= current) continue;
      this.transaction(() => {
        // Re-read under the write lock: another process may have applied it meanwhile.
        if (this.schemaVersion >= m.version) return;
        this.db.exec(m.sql);
        this.db.exec(`PRAGMA user_version = ${m.version}`);
      });
    }
  }

  private storeId(): string {
    const row = this.db.prepare("SELECT value FROM store_meta WHERE key = 'store_id'").get() as { value: string } | undefined;
    if (row) return row.value;
    const id = randomUUID();
    this.db.prepare("INSERT OR IGNORE INTO store_meta (key, value) VALUES ('store_id', ?)").run(id);
    return (this.db.prepare("SELECT value FROM store_meta WHERE key = 'store_id'").get() as { value: string }).value;
  }

  /** Runs `fn` in one write transaction (nested calls join the outer one); rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    if (this.txDepth > 0) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    this.txDepth++;
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // SQLite may already have rolled back (e.g. SQLITE_FULL); the original error matters
      }
      throw e;
    } finally {
      this.txDepth--;
    }
  }

  /**
   * Writes a consistent copy to `dir` on a thread of its own (BACKUP_THREAD: a big database
   * never freezes the service; the copy is the database as of the backup's start), under a
   * temporary name fsynced (on that thread) and renamed when complete (the directory flushed
   * then, as every published file: storage/atomic-write), and keeps the newest `keep` backups
   * there. Returns the backup's path. One backup at a time.
   */
  async backup(dir: string, keep: number): Promise<string> {
    if (this.backingUp) throw new Error('a backup of this database is already running');
    this.backingUp = true;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const final = join(dir, `skiff-${stamp}.db`);
      const tmp = join(dir, `.skiff-${stamp}-${process.pid}.db.partial`);
      rmSync(tmp, { force: true });
      try {
        await runBackupThread(this.path, tmp);
        renameSync(tmp, final);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
      await syncPublishedDirectory(dir);
      const backups = readdirSync(dir)
        .filter((n) => /^skiff-\d{8}T\d{6}Z\.db$/.test(n))
        .sort()
        .reverse();
      for (const old of backups.slice(keep)) rmSync(join(dir, old), { force: true });
      return final;
    } finally {
      this.backingUp = false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** Internal: the checks decided to set the file aside (startFresh). */
class SetAside extends Error {}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function readIdentity(path: string): StoreIdentity | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<StoreIdentity>;
    if (typeof parsed.storeId === 'string') return { storeId: parsed.storeId, createdAt: String(parsed.createdAt ?? '') };
  } catch {
    // an unreadable identity still says the directory held a store
  }
  return { storeId: 'unknown', createdAt: '' };
}

/** Atomically and durably (temp file, fsync, rename, directory fsync): a torn identity would refuse the next start. */
function writeIdentity(path: string, identity: StoreIdentity): void {
  writeFileAtomicSync(path, JSON.stringify(identity) + '\n', { mode: 0o600 });
}

/** Moves the database (and its WAL and shared-memory files) aside; returns the new name. */
function setAside(path: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const aside = `${path}.set-aside-${stamp}`;
  if (existsSync(path)) renameSync(path, aside);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) {
      try {
        renameSync(path + suffix, aside + suffix);
      } catch {
        unlinkSync(path + suffix);
      }
    }
  }
  return existsSync(aside) ? aside : `${basename(path)} (there was no file)`;
}

/** Runs BACKUP_THREAD for `source` into `target`; rejects with the thread's error. */
function runBackupThread(source: string, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BACKUP_THREAD, { eval: true, workerData: { source, target } });
    let done = false;
    worker.once('message', () => (done = true));
    worker.once('error', reject);
    worker.once('exit', (code) => (done ? resolve() : reject(new Error(`the backup thread ended with exit code ${code} before finishing`))));
  });
}
