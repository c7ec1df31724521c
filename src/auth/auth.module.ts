import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { PrincipalDirectory } from './principal-directory';

/** The principals the service knows (SKIFF_API_TOKENS, SKIFF_PRINCIPALS_FILE), for http/ and for runners that act later in a principal's name. */
@Global()
@Module({
  providers: [
    {
      provide: PrincipalDirectory,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new PrincipalDirectory({ apiTokens: config.apiTokens, principals: config.security.principals }),
    },
  ],
  exports: [PrincipalDirectory],
})
export class AuthModule {}
