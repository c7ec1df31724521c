import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { RepositoriesController } from './repositories.controller';
import { RepositoriesService } from './repositories.service';

@Module({ imports: [CredentialsModule], controllers: [RepositoriesController], providers: [RepositoriesService] })
export class RepositoriesModule {}
