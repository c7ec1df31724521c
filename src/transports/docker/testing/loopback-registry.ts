import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EgressPolicy } from '../../../egress/egress-policy';
import { RegistryHttp, type RegistryHttpOptions } from '../registry-http';

/**
 * Test support for the registry client's specs: a scripted HTTP server on loopback (for the
 * upstream misbehaviours a real registry cannot be made to show) and a RegistryHttp with short
 * test limits, no retries and an egress policy that lets loopback through.
 */

export interface LoopbackServer {
  /** `127.0.0.1:port`, as a registry location. */
  host: string;
  close(): Promise<void>;
}

export async function listenLoopback(handler: RequestListener): Promise<LoopbackServer> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A RegistryHttp for tests; `insecure` lists each location of `registries` as plain HTTP. */
export function testRegistryHttp(opts: Partial<Omit<RegistryHttpOptions, 'registries'>> & { insecure?: string[] } = {}): RegistryHttp {
  const { insecure = [], ...rest } = opts;
  return new RegistryHttp({
    registries: insecure.map((location) => ({ location, insecure: true })),
    retryTimes: 0,
    limits: { connectTimeoutMs: 2000, firstByteTimeoutMs: 2000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 5000 },
    userAgent: 'test',
    egress: new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] }),
    ...rest,
  });
}
