import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { ImagesController } from './images.controller';
import { ImagesService } from './images.service';

@Module({ imports: [CredentialsModule], controllers: [ImagesController], providers: [ImagesService] })
export class ImagesModule {}
