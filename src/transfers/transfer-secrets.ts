import type { RegistryAuth } from '../transports/transport';

/** Credentials a sync's YAML names for one registry, as written. */
export interface SyncYamlCredentials {
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** Credentials given inline with a copy or sync: kept apart from the request (sealed or in memory). */
export interface TransferSecrets {
  sourceAuth?: RegistryAuth;
  destinationAuth?: RegistryAuth;
  /** A sync's YAML `credentials`, by registry key, as written. */
  yamlCredentials?: Record<string, SyncYamlCredentials>;
}
