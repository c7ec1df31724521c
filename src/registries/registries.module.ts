import { Module } from '@nestjs/common';
import { RegistriesController } from './registries.controller';
import { RegistriesService } from './registries.service';

/** GET /v1/registries/{registry}; the RegistryHttp it reads comes from the (global) transports module. */
@Module({ controllers: [RegistriesController], providers: [RegistriesService] })
export class RegistriesModule {}
