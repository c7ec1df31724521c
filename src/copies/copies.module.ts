import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { OperationsModule } from '../operations/operations.module';
import { ReferrersModule } from '../referrers/referrers.module';
import { CopiesController } from './copies.controller';
import { CopiesService } from './copies.service';

@Module({ imports: [CredentialsModule, OperationsModule, ReferrersModule], controllers: [CopiesController], providers: [CopiesService] })
export class CopiesModule {}
