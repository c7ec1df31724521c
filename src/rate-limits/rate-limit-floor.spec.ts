import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransportContext } from '../transports/transport';
import { type KnownRateLimit, RateLimitFloor } from './rate-limit-floor';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function floorWith(state: KnownRateLimit | undefined, floor = 5) {
  const waits: number[] = [];
  const f = new RateLimitFloor(() => state, floor, {
    now: () => NOW,
    pause: async (ms) => {
      waits.push(ms);
    },
  });
  return { f, waits };
}

describe('rateLimitFloor', () => {
  it('goes at once when nothing is known or more than the floor remains', async () => {
    for (const state of [undefined, {}, { limit: 100 }, { remaining: 6 }]) {
      const { f, waits } = floorWith(state);
      await f.beforePull('r.example', undefined);
      assert.deepEqual(waits, [], JSON.stringify(state));
    }
  });

  it('waits for the announced reset, else one window, else the fallback, capped', async () => {
    assert.deepEqual((await run({ remaining: 5, resetAt: new Date(NOW + 30_000).toISOString() })).waits, [30_000]);
    assert.deepEqual((await run({ remaining: 0, windowSeconds: 21600 })).waits, [6 * 3600_000]);
    assert.deepEqual((await run({ remaining: 1, windowSeconds: 60, resetAt: new Date(NOW - 1000).toISOString() })).waits, [60_000]);
    assert.deepEqual((await run({ remaining: 1 })).waits, [60_000]);
    const capped = new RateLimitFloor(() => ({ remaining: 0, windowSeconds: 86_400 }), 0, { now: () => NOW, maxWaitMs: 1000, pause: async () => undefined });
    assert.equal(await capped.waitFor('r'), 1000);
    async function run(state: KnownRateLimit) {
      const x = floorWith(state);
      await x.f.beforePull('r.example', undefined);
      return x;
    }
  });

  it('concurrent pulls share one wait; a cancelled caller stops waiting at once', async () => {
    let release!: () => void;
    let pauses = 0;
    const f = new RateLimitFloor(() => ({ remaining: 0, windowSeconds: 60 }), 0, {
      pause: () => {
        pauses++;
        return new Promise<void>((r) => (release = r));
      },
    });
    const a = f.beforePull('r', undefined);
    const controller = new AbortController();
    const b = f.beforePull('r', controller.signal);
    controller.abort();
    await assert.rejects(b, (e: Error & { code?: string }) => e.code === 'ABORTED');
    release();
    await a;
    assert.equal(pauses, 1);
  });

  it("reads the gauge for the pull's own credentials (its transport context)", async () => {
    const asked: Array<[string, unknown]> = [];
    const own: TransportContext = { credentials: async () => ({ kind: 'basic', username: 'b', password: 'p' }) };
    const f = new RateLimitFloor(
      (registry, ctx) => {
        asked.push([registry, ctx]);
        return Promise.resolve(ctx === own ? { remaining: 50 } : { remaining: 0, windowSeconds: 60 });
      },
      5,
      { now: () => NOW, pause: async () => assert.fail('a pull with quota left must not wait') },
    );
    await f.beforePull('r.example', undefined, own);
    assert.deepEqual(asked, [['r.example', own]]);
  });
});

