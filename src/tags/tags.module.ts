import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { TagsController } from './tags.controller';
import { TagsService } from './tags.service';

@Module({ imports: [CredentialsModule], controllers: [TagsController], providers: [TagsService] })
export class TagsModule {}
