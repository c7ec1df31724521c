import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { BLOB_TRANSFER_GATE } from '../copy-engine/copy-engine.module';
import { DATABASE, type Database, DatabaseModule } from '../database/database.module';
import { FleetBlobGate } from './fleet-blob-gate';
import { OperationBackups } from './operation-backups';
import { OPERATION_STORE, type OperationStore } from './operation-store';
import { OperationsController } from './operations.controller';
import { OperationsService } from './operations.service';
import { PostgresOperationStore } from './postgres-operation-store';
import { SqliteOperationStore } from './sqlite-operation-store';

/** The operations store on the process's database (DatabaseModule opens it, SQLite or PostgreSQL). */
export function operationStoreOn(db: Database): OperationStore {
  return db.engine === 'postgres' ? new PostgresOperationStore(db) : new SqliteOperationStore(db);
}

/**
 * Operations: the store (SQLite or PostgreSQL), the façade with its worker and event hub
 * (OperationsService), backups, the copy engine's fleet-wide blob gate, and /v1/operations.
 * Features that run as operations import this module, register their runner with
 * OperationsService in their onModuleInit and answer submissions with `answerSubmit`
 * (submit-response.ts).
 */
@Module({
  imports: [DatabaseModule],
  controllers: [OperationsController],
  providers: [
    { provide: OPERATION_STORE, useFactory: operationStoreOn, inject: [DATABASE] },
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
