import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { ArtifactsController } from './artifacts.controller';
import { ArtifactsService } from './artifacts.service';

@Module({ imports: [CredentialsModule], controllers: [ArtifactsController], providers: [ArtifactsService] })
export class ArtifactsModule {}
