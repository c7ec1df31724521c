import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AppConfig } from '../config/app-config';
import type { OperationsService } from '../operations/operations.service';
import type { LocalStorage } from '../storage/local-storage';
import type { ContainersStorageTransport } from '../transports/containers-storage/containers-storage.transport';
import type { DockerDaemonTransport } from '../transports/docker-daemon/docker-daemon.transport';
import type { TransportRegistry } from '../transports/transport-registry';
import { HealthController } from './health.controller';

describe('HealthController readiness', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-health-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the checks once for a burst of concurrent probes, and again for a later probe', async () => {
    let storeQueries = 0;
    let release = (): void => undefined;
    const operations = {
      storeProblem: async () => {
        storeQueries++;
        await new Promise<void>((r) => (release = r));
        return undefined;
      },
    } as unknown as OperationsService;
    const storage = { headroomCheck: async () => ({ ok: true, detail: 'enough' }) } as unknown as LocalStorage;
    const transports = { isEnabled: () => false } as unknown as TransportRegistry;
    const config = { dataDir: join(dir, 'data'), storageRoot: join(dir, 'storage') } as unknown as AppConfig;
    const health = new HealthController(config, operations, {} as DockerDaemonTransport, {} as ContainersStorageTransport, storage, transports);

    const burst = Array.from({ length: 50 }, () => health.readiness());
    await new Promise((r) => setImmediate(r));
    release();
    const results = await Promise.all(burst);
    assert.equal(storeQueries, 1, 'one store query for 50 concurrent probes');
    assert.ok(results.every((r) => r.ok));

    const later = health.readiness();
    await new Promise((r) => setImmediate(r));
    release();
    await later;
    assert.equal(storeQueries, 2, 'a probe after the run finished runs the checks again');
  });
});
