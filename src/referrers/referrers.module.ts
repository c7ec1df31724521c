import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { ReferrersController } from './referrers.controller';
import { ReferrersService } from './referrers.service';

@Module({ imports: [CredentialsModule], controllers: [ReferrersController], providers: [ReferrersService], exports: [ReferrersService] })
export class ReferrersModule {}
