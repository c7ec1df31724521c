/**
 * Several skiff processes sharing one PostgreSQL database, as a fleet of replicas behind a
 * load balancer would: each has its own data directory, port and SKIFF_REPLICA_ID (`r0`, `r1`,
 * …), all the same SKIFF_DATABASE_URL. Contract: `startFleet` resolves once every replica
 * answers /healthz; `stop()` stops the live ones (SIGTERM) and removes their data.
 */
import { startSkiff, type SkiffService } from './skiff-service';

export interface Fleet {
  replicas: SkiffService[];
  /** Replica `i` (0-based) by its id. */
  byId(id: string): SkiffService | undefined;
  stop(): Promise<void>;
}

export async function startFleet(databaseUrl: string, size: number, env: Record<string, string> = {}): Promise<Fleet> {
  const replicas = await Promise.all(Array.from({ length: size }, (_, i) => startSkiff({ SKIFF_DATABASE_URL: databaseUrl, SKIFF_REPLICA_ID: `r${i}`, ...env })));
  const ids = replicas.map((_, i) => `r${i}`);
  return {
    replicas,
    byId: (id) => replicas[ids.indexOf(id)],
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
    },
  };
}
