import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from './registry-client';
import { type LoopbackServer, listenLoopback, testRegistryHttp } from './testing/loopback-registry';

const DIGEST = `sha256:${'d'.repeat(64)}`;
let server: LoopbackServer;
let host: string;

before(async () => {
  server = await listenLoopback((req, res) => {
    if (req.url === '/v2/') return res.writeHead(200).end('{}');
    // Accepted, then the connection breaks in the middle of the answer's body.
    res.writeHead(202, { 'content-length': '100000' });
    res.write(Buffer.alloc(10));
    setTimeout(() => req.socket.destroy(), 50);
  });
  host = server.host;
});

after(() => server.close());

describe('RegistryClient', () => {
  it('an answer body that breaks off after the call returned is let go of, never an unhandled stream error', async () => {
    const http = testRegistryHttp({ insecure: [host] });
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
