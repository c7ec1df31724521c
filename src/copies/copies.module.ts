import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { OperationsModule } from '../operations/operations.module';
import { CopiesController } from './copies.controller';
import { CopiesService } from './copies.service';

@Module({ imports: [CredentialsModule, OperationsModule], controllers: [CopiesController], providers: [CopiesService] })
export class CopiesModule {}
