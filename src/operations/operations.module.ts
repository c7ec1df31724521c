import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { OperationStore } from './operation-store';
import { OperationsController } from './operations.controller';
import { OperationsService } from './operations.service';

/** The database file of the operations store, inside the data directory. */
export function operationsDatabasePath(config: AppConfig): string {
  return join(config.dataDir, 'skiff.db');
}

/**
 * Operations: the store, the worker (OperationsService) and /v1/operations. Features that run
 * as operations import this module, register their runner with OperationsService in their
 * onModuleInit and answer submissions with `answerSubmit` (submit-response.ts).
 */
@Module({
  controllers: [OperationsController],
  providers: [
    { provide: OperationStore, useFactory: (config: AppConfig) => OperationStore.open(operationsDatabasePath(config)), inject: [APP_CONFIG] },
    OperationsService,
  ],
  exports: [OperationsService],
})
export class OperationsModule {}
