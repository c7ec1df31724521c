import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';
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

/** Pages an online backup copies between two turns of the event loop (4 KiB pages: about 1 MiB). */
const BACKUP_PAGES_PER_STEP = 256;

const FRESH_HINT = 'set SKIFF_START_FRESH=true to set it aside and start with an empty database, or restore a backup (README: "Backups")';

/**
 * The embedded SQLite database (`node:sqlite`; WAL, synchronous=FULL), checked rather than
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
   * Writes a consistent copy to `dir` with SQLite's online backup, `pagesPerStep` pages at a
   * time between which the event loop runs (a big database never freezes the service; writes
   * this connection makes meanwhile are part of the copy), under a temporary name fsynced and
   * renamed when complete, and keeps the newest `keep` backups there. Returns the backup's
   * path. One backup at a time.
   */
  async backup(dir: string, keep: number, options: { pagesPerStep?: number } = {}): Promise<string> {
    if (this.backingUp) throw new Error('a backup of this database is already running');
    this.backingUp = true;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const final = join(dir, `skiff-${stamp}.db`);
      const tmp = join(dir, `.skiff-${stamp}-${process.pid}.db.partial`);
      rmSync(tmp, { force: true });
      try {
        await backup(this.db, tmp, { rate: options.pagesPerStep ?? BACKUP_PAGES_PER_STEP });
        const fd = openSync(tmp, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, final);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
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

function writeIdentity(path: string, identity: StoreIdentity): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(identity) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
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
