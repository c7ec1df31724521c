import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { OperationsModule } from '../operations/operations.module';
import { ReferrersModule } from '../referrers/referrers.module';
import { SyncsController } from './syncs.controller';
import { SyncsService } from './syncs.service';

@Module({ imports: [CredentialsModule, OperationsModule, ReferrersModule], controllers: [SyncsController], providers: [SyncsService] })
export class SyncsModule {}
