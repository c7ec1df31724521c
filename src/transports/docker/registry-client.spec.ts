import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EgressPolicy } from '../../egress/egress-policy';
import { RegistryClient } from './registry-client';
import { RegistryHttp } from './registry-http';

const DIGEST = `sha256:${'d'.repeat(64)}`;
let server: Server;
let host: string;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/v2/') return res.writeHead(200).end('{}');
    // Accepted, then the connection breaks in the middle of the answer's body.
    res.writeHead(202, { 'content-length': '100000' });
    res.write(Buffer.alloc(10));
    setTimeout(() => req.socket.destroy(), 50);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

describe('RegistryClient', () => {
  it('an answer body that breaks off after the call returned is let go of, never an unhandled stream error', async () => {
    const http = new RegistryHttp({
      registries: [{ location: host, insecure: true }],
      retryTimes: 0,
      limits: { connectTimeoutMs: 2000, firstByteTimeoutMs: 2000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 5000 },
      userAgent: 'test',
      egress: new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] }),
    });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      await new RegistryClient(http, host, { tlsVerify: false }).deleteManifest('r', DIGEST);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(uncaught, []);
    } finally {
      process.off('uncaughtException', onUncaught);
      await http.close();
    }
  });
});
