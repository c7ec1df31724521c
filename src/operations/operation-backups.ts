import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { OPERATION_STORE, type OperationStore } from './operation-store';
import { SqliteOperationStore } from './sqlite-operation-store';

/**
 * Scheduled backups of the embedded SQLite store: every SKIFF_BACKUP_INTERVAL_HOURS (0 = off),
 * SQLite's online backup (in steps: the service keeps answering) into a new file in
 * SKIFF_BACKUP_DIR, keeping the newest SKIFF_BACKUP_KEEP. A backup that fails (a full disk) is
 * logged, never fatal; one due while another still runs is skipped. On demand:
 * `node dist/database/backup-command.js`.
 * PostgreSQL is backed up with its own tools (pg_dump), not here.
 */
@Injectable()
export class OperationBackups implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Backups');
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(OPERATION_STORE) private readonly store: OperationStore,
  ) {}

  onModuleInit(): void {
    const { intervalHours } = this.config.database.backup;
    if (intervalHours <= 0 || !(this.store instanceof SqliteOperationStore)) return;
    this.timer = setInterval(() => void this.backup(), intervalHours * 3_600_000);
    this.timer.unref();
  }

  /** Writes one backup now; the path, or undefined when it failed or another is running (logged). */
  async backup(): Promise<string | undefined> {
    if (!(this.store instanceof SqliteOperationStore)) return undefined;
    const { dir, keep } = this.config.database.backup;
    try {
      const path = await this.store.database.backup(dir, keep);
      this.logger.log(`operations database backed up to ${path}`);
      return path;
    } catch (e) {
      this.logger.error({ err: e }, `backing up the operations database to ${dir} failed`);
      return undefined;
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
