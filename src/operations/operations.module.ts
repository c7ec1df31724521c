import { join } from 'node:path';
import { Logger, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { BLOB_TRANSFER_GATE } from '../copy-engine/copy-engine.module';
import { StartupRefusedError } from '../database/database-errors';
import { PostgresDatabase, redactUrl } from '../database/postgres-database';
import { SqliteDatabase } from '../database/sqlite-database';
import { FleetBlobGate } from './fleet-blob-gate';
import { OperationBackups } from './operation-backups';
import { OPERATION_STORE, type OperationStore } from './operation-store';
import { OperationsController } from './operations.controller';
import { OperationsService } from './operations.service';
import { PostgresOperationStore } from './postgres-operation-store';
import { SqliteOperationStore } from './sqlite-operation-store';

/** The database file of the embedded store, inside the data directory. */
export function operationsDatabasePath(config: AppConfig): string {
  return join(config.dataDir, 'skiff.db');
}

/**
 * The store configuration asks for: PostgreSQL with SKIFF_DATABASE_URL, else SQLite in the
 * data directory. Throws StartupRefusedError when the database must not be used.
 */
export async function openOperationStore(config: AppConfig, logger = new Logger('Database')): Promise<OperationStore> {
  if (config.database.url) {
    const db = await PostgresDatabase.open({
      url: config.database.url,
      poolSize: config.database.poolSize,
      warn: (message, e) => logger.warn({ err: e }, message),
    });
    logger.log(`operations store: PostgreSQL ${redactUrl(config.database.url)}`);
    return new PostgresOperationStore(db);
  }
  const db = SqliteDatabase.open(operationsDatabasePath(config), { startFresh: config.database.startFresh, notice: (m) => logger.warn(m) });
  if (db.damage) logger.error(`the operations database ${db.path} is damaged (${db.damage}): the service reports not ready; restore a backup or start fresh`);
  return new SqliteOperationStore(db);
}

/**
 * A refusal ends the process with its message and exit code 2, without a stack trace (Nest
 * would log a provider's error with one and exit 1).
 */
async function openOrExit(config: AppConfig): Promise<OperationStore> {
  try {
    return await openOperationStore(config);
  } catch (e) {
    if (e instanceof StartupRefusedError) {
      process.stderr.write(`skiff: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/**
 * Operations: the store (SQLite or PostgreSQL), the façade with its worker and event hub
 * (OperationsService), backups, the copy engine's fleet-wide blob gate, and /v1/operations.
 * Features that run as operations import this module, register their runner with
 * OperationsService in their onModuleInit and answer submissions with `answerSubmit`
 * (submit-response.ts).
 */
@Module({
  controllers: [OperationsController],
  providers: [
    { provide: OPERATION_STORE, useFactory: openOrExit, inject: [APP_CONFIG] },
    // Replicas sharing PostgreSQL push a blob to a repository once across the fleet (the copy engine's gate).
    {
      provide: BLOB_TRANSFER_GATE,
      inject: [APP_CONFIG, OPERATION_STORE],
      useFactory: (config: AppConfig, store: OperationStore) =>
        store.engine === 'postgres' ? new FleetBlobGate(store, config.operations.replicaId, config.operations.leaseSeconds * 1000) : null,
    },
    OperationsService,
    OperationBackups,
  ],
  exports: [OperationsService, OPERATION_STORE, BLOB_TRANSFER_GATE],
})
export class OperationsModule {}
