import { Module } from '@nestjs/common';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DATABASE, type Database, DatabaseModule } from '../database/database.module';
import { SecretBox } from '../secrets/secret-box';
import { AuthFileCredentialStore } from './auth-file-credential-store';
import { CREDENTIAL_STORE, type CredentialStore } from './credential-store';
import { CredentialService } from './credential.service';
import { CredentialsController } from './credentials.controller';
import { PostgresCredentialStore } from './postgres-credential-store';

/**
 * Where stored credentials live: with PostgreSQL (SKIFF_DATABASE_URL), in its table, shared by
 * every replica and always sealed (no key: storing is refused); otherwise in
 * `$SKIFF_DATA_DIR/auth.json`, as before, sealed when a key is configured. The embedded SQLite
 * database is not used for them: a single process without configuration keeps the file in
 * skopeo's format (mode 0600) it always kept, and behaves exactly as before.
 */
export function credentialStoreFor(config: AppConfig, db: Database): CredentialStore {
  const box = new SecretBox(config.secretKeys);
  return db.engine === 'postgres' ? new PostgresCredentialStore(db, box) : new AuthFileCredentialStore(join(config.dataDir, 'auth.json'), box);
}

@Module({
  imports: [DatabaseModule],
  controllers: [CredentialsController],
  providers: [CredentialService, { provide: CREDENTIAL_STORE, inject: [APP_CONFIG, DATABASE], useFactory: credentialStoreFor }],
  exports: [CredentialService],
})
export class CredentialsModule {}
