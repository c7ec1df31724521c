import { Module } from '@nestjs/common';
import { CredentialService } from './credential.service';
import { CredentialsController } from './credentials.controller';

@Module({ controllers: [CredentialsController], providers: [CredentialService], exports: [CredentialService] })
export class CredentialsModule {}
