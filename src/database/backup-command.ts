import { DatabaseSync } from 'node:sqlite';
import { join, resolve } from 'node:path';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config/app-config';

/**
 * On-demand backup of the embedded operations database, beside a running service or not:
 * `node dist/database/backup-command.js [DEST_DIR]` (default SKIFF_BACKUP_DIR). Reads the
 * same configuration as the service; writes `skiff-<time>.db` with `VACUUM INTO` (a consistent
 * copy, also of a live WAL database) under a temporary name, renamed when complete. Restore:
 * stop skiff, copy the backup to `$SKIFF_DATA_DIR/skiff.db` (removing skiff.db-wal and
 * skiff.db-shm), start it.
 */
function main(): void {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`skiff backup: configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (config.database.url) {
    process.stderr.write('skiff backup: SKIFF_DATABASE_URL is set: back PostgreSQL up with pg_dump\n');
    process.exit(2);
  }
  const source = join(config.dataDir, 'skiff.db');
  if (!existsSync(source)) {
    process.stderr.write(`skiff backup: there is no database at ${source}\n`);
    process.exit(1);
  }
  const dir = resolve(process.argv[2] ?? config.database.backup.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const final = join(dir, `skiff-${stamp}.db`);
  const tmp = join(dir, `.skiff-${stamp}-${process.pid}.db.partial`);
  const db = new DatabaseSync(source, { readOnly: true, timeout: 10_000 });
  try {
    db.prepare('VACUUM INTO ?').run(tmp);
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { force: true });
    process.stderr.write(`skiff backup: ${(e as Error).message}\n`);
    process.exit(1);
  } finally {
    db.close();
  }
  process.stdout.write(`${final}\n`);
}

main();
