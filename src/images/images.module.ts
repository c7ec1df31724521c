import { Module } from '@nestjs/common';
import { CredentialsModule } from '../credentials/credentials.module';
import { ImageContentController } from './image-content.controller';
import { ImagesController } from './images.controller';
import { ImagesService } from './images.service';

@Module({ imports: [CredentialsModule], controllers: [ImagesController, ImageContentController], providers: [ImagesService] })
export class ImagesModule {}
