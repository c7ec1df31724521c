import { Module } from '@nestjs/common';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AuthFileCredentialStore } from './auth-file-credential-store';
import { CREDENTIAL_STORE } from './credential-store';
import { CredentialService } from './credential.service';
import { CredentialsController } from './credentials.controller';

@Module({
  controllers: [CredentialsController],
  providers: [
    CredentialService,
    // The auth.json adapter; a database adapter replaces this provider when one is configured.
    { provide: CREDENTIAL_STORE, inject: [APP_CONFIG], useFactory: (config: AppConfig) => new AuthFileCredentialStore(join(config.dataDir, 'auth.json')) },
  ],
  exports: [CredentialService],
})
export class CredentialsModule {}
