/**
 * The PostgreSQL LISTEN connection every replica receives the others' signals on: a connection
 * the server kills, and one that dies silently (half-open), are both replaced, and what was
 * written meanwhile still reaches watchers (caught up after the reconnect).
 */
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@nestjs/common';
import { emptyProgress } from '../src/copy-engine/transfer-progress';
import { PostgresDatabase } from '../src/database/postgres-database';
import type { Operation } from '../src/operations/operation';
import { OperationEventHub } from '../src/operations/operation-event-hub';
import { newOperationId } from '../src/operations/operation-id';
import type { OperationStore, StoreSignal } from '../src/operations/operation-store';
import { PostgresOperationStore } from '../src/operations/postgres-operation-store';
import { postgresSkip, startPostgres, type TestPostgres } from './support/postgres';

const LEASE = { leaseMs: 60_000, deadlineMs: 3_600_000 };

async function insert(store: OperationStore): Promise<Operation> {
  const operation: Operation = {
    id: newOperationId(),
    kind: 'copy',
    state: 'queued',
    owner: 'alice',
    labels: {},
    createdAt: new Date().toISOString(),
    request: { source: 'docker://a/b:c', destination: 'oci:x:y', sourceTlsVerify: true, destinationTlsVerify: true, multiArch: 'system', preserveDigests: false, removeSignatures: false, retryTimes: 3, referrers: 'none' },
    progress: emptyProgress('queued'),
    attempts: 0,
  };
  const out = await store.insert({ operation, requestHash: 'h', hadSecrets: false });
  assert.ok(out.created);
  return out.operation;
}

/** Each test claims its own operation: none other may be queued. */
async function clear(store: OperationStore): Promise<void> {
  for (const op of await store.list({ limit: 100_000 })) await store.delete(op.id);
}

/**
 * A TCP proxy on loopback to `port`. `freeze(n)` makes every connection after the first `n`
 * half-open: nothing is forwarded either way and nothing is closed (as when a NAT drops it).
 * `hold(true)` makes the connections opened from then on hang: accepted, never answered.
 */
async function startTcpProxy(port: number) {
  const pairs: { client: Socket; server: Socket }[] = [];
  const held: Socket[] = [];
  let holding = false;
  const proxy = createServer((client) => {
    client.on('error', () => undefined);
    if (holding) {
      held.push(client);
      return;
    }
    const server = connect(port, '127.0.0.1');
    server.on('error', () => undefined);
    client.pipe(server);
    server.pipe(client);
    pairs.push({ client, server });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    connections: () => pairs.length,
    freeze(after: number) {
      for (const { client, server } of pairs.slice(after)) {
        client.unpipe(server);
        server.unpipe(client);
        client.pause();
        server.pause();
      }
    },
    hold(on: boolean) {
      holding = on;
    },
    close() {
      for (const client of held) client.destroy();
      for (const { client, server } of pairs) {
        client.destroy();
        server.destroy();
      }
      proxy.close();
    },
  };
}

describe('PostgreSQL LISTEN connection', { skip: postgresSkip() }, () => {
  let pg: TestPostgres;
  let url: string;
  before(async () => {
    pg = await startPostgres();
    url = await pg.createDatabase('listen');
  });
  after(async () => {
    await pg?.stop();
  });
  const open = async () => new PostgresOperationStore(await PostgresDatabase.open({ url, poolSize: 5 }));

  /**
   * Replica B's signals feed an event hub reading B's store, as the operations service wires
   * them; replica A writes. Answers B, what B's watcher of `op` received and the signals B saw.
   */
  async function watchFromB(b: PostgresOperationStore, opId: string) {
    const silent = { log() {}, warn() {}, error() {}, debug() {}, verbose() {} } as unknown as Logger;
    const hub = new OperationEventHub(b, silent);
    const seen: StoreSignal[] = [];
    const received: number[] = [];
    const stop = await b.subscribe((s) => {
      seen.push(s);
      if (s.type === 'event') hub.signalled(s.id, s.seq);
      if (s.type === 'reconnected') hub.reconnected();
    });
    hub.watch(opId, 1, (e) => {
      if (e) received.push(e.seq);
    });
    return { seen, received, stop };
  }

  async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  /**
   * What both ways of losing the LISTEN connection must come to: B watches an operation A
   * writes to; once the first event arrived, `breakListen` breaks B's LISTEN connection and A
   * writes while B may not be listening (caught up after the reconnect), then once more.
   */
  async function listenerRecovers(a: PostgresOperationStore, b: PostgresOperationStore, breakListen: () => Promise<void>): Promise<void> {
    await clear(a);
    const op = await insert(a);
    const w = await watchFromB(b, op.id);
    const claimed = await a.claim({ owner: 'ra', ...LEASE });
    assert.equal(claimed?.operation.id, op.id);
    await until('the first event', () => w.received.includes(2));
    await breakListen();
    await a.recordProgress(op.id, claimed!.leaseVersion, emptyProgress('copying'));
    await until('the reconnect', () => w.seen.some((s) => s.type === 'reconnected'));
    await a.recordProgress(op.id, claimed!.leaseVersion, emptyProgress('copying'));
    await until('every event', () => w.received.includes(4));
    assert.deepEqual(w.received, [2, 3, 4]);
    await w.stop();
  }

  it("the LISTEN connection killed by the server: the listener reconnects and another replica's events still arrive, the missed ones too", async () => {
    const a = await open();
    const b = new PostgresOperationStore(await PostgresDatabase.open({ url, poolSize: 2 }));
    try {
      await listenerRecovers(a, b, async () => {
        const db = new URL(url).pathname.slice(1);
        const killed = await pg.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'skiff-listen' AND datname = '${db}'`);
        assert.ok(killed.length >= 1, 'the LISTEN session was found');
      });
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('a LISTEN connection that silently died (half-open: nothing answers, nothing closes) is found by the heartbeat; the listener reconnects and catches up', async () => {
    const proxy = await startTcpProxy(pg.port);
    const proxied = new URL(url);
    proxied.port = String(proxy.port);
    const a = await open();
    const b = new PostgresOperationStore(await PostgresDatabase.open({ url: proxied.toString(), poolSize: 2, listenHeartbeatMs: 500 }));
    try {
      const before = proxy.connections();
      // Only the connections opened since (the LISTEN one, by subscribe) go dead; B's pool stays usable.
      await listenerRecovers(a, b, async () => proxy.freeze(before));
    } finally {
      await b.close();
      await a.close();
      proxy.close();
    }
  });

  it('a reconnect that is never answered (the server unreachable behind a NAT or balancer) gives up in time and tries again', async () => {
    const proxy = await startTcpProxy(pg.port);
    const proxied = new URL(url);
    proxied.port = String(proxy.port);
    const a = await open();
    const b = new PostgresOperationStore(await PostgresDatabase.open({ url: proxied.toString(), poolSize: 2, listenHeartbeatMs: 500 }));
    let release: NodeJS.Timeout | undefined;
    try {
      const before = proxy.connections();
      await listenerRecovers(a, b, async () => {
        // The LISTEN connection goes dead and the first reconnects hang, until the way is free again.
        proxy.hold(true);
        proxy.freeze(before);
        release = setTimeout(() => proxy.hold(false), 2000);
      });
    } finally {
      clearTimeout(release);
      await b.close();
      await a.close();
      proxy.close();
    }
  });
});
