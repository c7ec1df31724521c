import { join } from 'node:path';
import { Logger, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StartupRefusedError } from './database-errors';
import { PostgresDatabase, redactUrl } from './postgres-database';
import { SqliteDatabase } from './sqlite-database';

/** The process's one database: embedded SQLite, or PostgreSQL shared by the replicas. */
export type Database = SqliteDatabase | PostgresDatabase;

/** Nest token of the opened Database (one per process: the operations store and the credentials share its pool). */
export const DATABASE = Symbol('DATABASE');

/** The database file of the embedded store, inside the data directory. */
export function sqliteDatabasePath(config: AppConfig): string {
  return join(config.dataDir, 'skiff.db');
}

/**
 * The database configuration asks for, opened and migrated: PostgreSQL with SKIFF_DATABASE_URL,
 * else SQLite in the data directory. Throws StartupRefusedError when it must not be used.
 */
export async function openDatabase(config: AppConfig, logger = new Logger('Database')): Promise<Database> {
  if (config.database.url) {
    const db = await PostgresDatabase.open({
      url: config.database.url,
      poolSize: config.database.poolSize,
      warn: (message, e) => logger.warn({ err: e }, message),
    });
    logger.log(`database: PostgreSQL ${redactUrl(config.database.url)}`);
    return db;
  }
  const db = SqliteDatabase.open(sqliteDatabasePath(config), { startFresh: config.database.startFresh, notice: (m) => logger.warn(m) });
  if (db.damage) logger.error(`the operations database ${db.path} is damaged (${db.damage}): the service reports not ready; restore a backup or start fresh`);
  return db;
}

/**
 * A refusal ends the process with its message and exit code 2, without a stack trace (Nest
 * would log a provider's error with one and exit 1).
 */
async function openOrExit(config: AppConfig): Promise<Database> {
  try {
    return await openDatabase(config);
  } catch (e) {
    if (e instanceof StartupRefusedError) {
      process.stderr.write(`skiff: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/**
 * Opens the database once for the modules that keep state in it (operations, credentials).
 * Closing it is the operations store's job (OperationsService, at shutdown, after every
 * request and run has ended).
 */
@Module({
  providers: [{ provide: DATABASE, useFactory: openOrExit, inject: [APP_CONFIG] }],
  exports: [DATABASE],
})
export class DatabaseModule {}
