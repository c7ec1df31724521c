import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { EgressPolicy } from '../../egress/egress-policy';
import { DomainError } from '../../errors/domain-error';
import { type LookupAll, egressConnector } from './egress-connector';

let server: Server;
let port: number;
let connections = 0;

before(async () => {
  server = createServer((req, res) => res.end(`host=${req.headers.host}`));
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** A resolver that answers from a table, counting its calls (one per connect: no second lookup). */
function table(entries: Record<string, string[]>): LookupAll & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (host: string) => {
    calls.push(host);
    const list = entries[host];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

function agentWith(policy: EgressPolicy, lookup: LookupAll): Agent {
  return new Agent({ connect: egressConnector({ policy, lookup, timeoutMs: 2000, tls: {} }) });
}

const single = new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] });
const shared = (listed: string[] = []) => new EgressPolicy({ sharedMode: true, listedLocations: listed, allowNetworks: [] });

describe('egressConnector', () => {
  it('resolves the name itself and connects to the address it checked (pinned); the Host header keeps the name', async () => {
    const lookup = table({ 'registry.test': ['127.0.0.1'] });
    const agent = agentWith(single, lookup);
    try {
      const res = await agent.request({ origin: `http://registry.test:${port}`, path: '/', method: 'GET' });
      assert.equal(await res.body.text(), `host=registry.test:${port}`);
      assert.deepEqual(lookup.calls, ['registry.test']);
    } finally {
      await agent.close();
    }
  });

  it('a name resolving to a forbidden address is refused before any connection, as EGRESS_REFUSED', async () => {
    const before = connections;
    const lookup = table({ 'evil.test': ['127.0.0.1'], 'meta.test': ['169.254.169.254'], 'mixed.test': ['127.0.0.1', '::ffff:169.254.169.254'] });
    const cases: Array<[EgressPolicy, string, RegExp]> = [
      [shared(), 'evil.test', /evil\.test resolves to 127\.0\.0\.1, which is a loopback address/],
      [single, 'meta.test', /meta\.test resolves to 169\.254\.169\.254, which is a link-local\/metadata address, never reached/],
      [single, 'mixed.test', /mixed\.test resolves to 169\.254\.169\.254, which is a link-local\/metadata address/],
    ];
    for (const [policy, host, message] of cases) {
      const agent = agentWith(policy, lookup);
      try {
        await assert.rejects(agent.request({ origin: `http://${host}:${port}`, path: '/', method: 'GET' }), (e: unknown) => e instanceof DomainError && e.code === 'EGRESS_REFUSED' && message.test(e.message));
      } finally {
        await agent.close();
      }
    }
    assert.equal(connections, before, 'nothing connected to the listener');
  });

  it('an IP literal is judged as itself; a listed host in shared mode is reached', async () => {
    const agent = agentWith(shared([`127.0.0.1:${port}`]), table({}));
    try {
      const res = await agent.request({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    } finally {
      await agent.close();
    }
    const refused = agentWith(shared(), table({}));
    try {
      await assert.rejects(refused.request({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' }), /EGRESS|loopback address/);
    } finally {
      await refused.close();
    }
  });

  it('DNS failures and names without an address fail as network errors', async () => {
    const agent = agentWith(single, async (host) => (host === 'empty.test' ? [] : Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }))));
    try {
      await assert.rejects(agent.request({ origin: 'http://missing.test', path: '/', method: 'GET' }), (e: unknown) => (e as { code?: string }).code === 'ENOTFOUND');
      await assert.rejects(agent.request({ origin: 'http://empty.test', path: '/', method: 'GET' }), (e: unknown) => (e as { code?: string }).code === 'ENOTFOUND');
    } finally {
      await agent.close();
    }
  });

  it('a resolver that never answers is cut by the connect timeout', async () => {
    const agent = new Agent({ connect: egressConnector({ policy: single, lookup: () => new Promise(() => undefined), timeoutMs: 200, tls: {} }) });
    try {
      await assert.rejects(agent.request({ origin: 'http://slow.test', path: '/', method: 'GET' }), (e: unknown) => (e as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT');
    } finally {
      await agent.close();
    }
  });
});

describe('egressConnector with several addresses', () => {
  it('tries the next checked address when one refuses the connection', async () => {
    const lookup = table({ 'dual.test': ['127.0.0.2', '127.0.0.1'] });
    // nothing listens on 127.0.0.2:port
    const agent = agentWith(single, lookup);
    try {
      const res = await agent.request({ origin: `http://dual.test:${port}`, path: '/', method: 'GET' });
      assert.equal(await res.body.text(), `host=dual.test:${port}`);
    } finally {
      await agent.close();
    }
  });
});
