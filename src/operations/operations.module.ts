import { Module } from '@nestjs/common';
import { DATABASE, type Database, DatabaseModule } from '../database/database.module';
import { OperationBackups } from '../database/operation-backups';
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
 * (OperationsService), backups, and /v1/operations. Features that run as operations import this
 * module, register their runner with OperationsService in their onModuleInit and answer
 * submissions with `answerSubmit` (submit-response.ts).
 */
@Module({
  imports: [DatabaseModule],
  controllers: [OperationsController],
  providers: [{ provide: OPERATION_STORE, useFactory: operationStoreOn, inject: [DATABASE] }, OperationsService, OperationBackups],
  exports: [OperationsService, OPERATION_STORE],
})
export class OperationsModule {}
