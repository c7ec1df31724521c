import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ThroughputWatch, watchStream } from './throughput-watch';

const floor = { minBytesPerSecond: 10_000, windowSeconds: 0.4 };
const stall = (bytes: number) => Object.assign(new Error(`stalled at ${bytes}`), { code: 'STALL' });

describe('watchStream', () => {
  it('passes a healthy stream through unchanged', async () => {
    const data = Buffer.alloc(200_000, 7);
    const out = watchStream(Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), floor, 'download', stall);
    const chunks: Buffer[] = [];
    for await (const c of out) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), data);
  });

  it('download: a source that stops sending is a stall', async () => {
    const src = new PassThrough();
    src.write(Buffer.alloc(100));
    const out = watchStream(src, floor, 'download', stall);
    out.resume();
    await assert.rejects(new Promise((_resolve, reject) => out.once('error', reject)), /stalled at/);
    assert.ok(src.destroyed, 'the source is destroyed with it');
  });

  it('download: a slow consumer (backpressure) is not the source stalling', async () => {
    const src = new PassThrough({ highWaterMark: 1024 });
    const out = watchStream(src, floor, 'download', stall);
    let errored = false;
    out.on('error', () => (errored = true));
    src.write(Buffer.alloc(64 * 1024));
    // nobody reads for longer than the window: the source is paused by us, not stalled
    await sleep(1000);
    assert.equal(errored, false);
    src.end();
    out.resume();
    await new Promise((r) => out.once('end', r));
  });

  it('upload: a registry that stops taking bytes is a stall; a slow source is not', async () => {
    const slowSource = new Readable({ read() {} });
    const fine = watchStream(slowSource, floor, 'upload', stall);
    let fineErrored = false;
    fine.on('error', () => (fineErrored = true));
    fine.resume();
    slowSource.push(Buffer.alloc(10));
    await sleep(1000);
    assert.equal(fineErrored, false, 'waiting on our own source does not count');
    slowSource.push(null);

    const fast = Readable.from((function* () {
      for (let i = 0; i < 1000; i++) yield Buffer.alloc(16 * 1024);
    })());
    const stuck = watchStream(fast, floor, 'upload', stall);
    const neverDrains = new Writable({ highWaterMark: 1024, write(_c, _e, _cb) {} });
    await assert.rejects(pipeline(stuck, neverDrains), /stalled at/);
  });
});

describe('watchStream of a stream that already finished', () => {
  it('carries over an error emitted before wrapping', async () => {
    const src = new PassThrough();
    src.on('error', () => undefined);
    src.destroy(new Error('DIGEST_MISMATCH before the upload started'));
    await sleep(10);
    const out = watchStream(src, floor, 'upload', stall);
    await assert.rejects(new Promise((_resolve, reject) => out.once('error', reject)), /DIGEST_MISMATCH before/);
  });

  it('carries over an end reached before wrapping, and a destroy without error', async () => {
    const ended = new PassThrough();
    ended.end();
    ended.resume();
    await new Promise((r) => ended.once('end', r));
    const out = watchStream(ended, floor, 'upload', stall);
    out.resume();
    await new Promise((r) => out.once('end', r));
    const destroyed = new PassThrough();
    destroyed.destroy();
    await sleep(10);
    const out2 = watchStream(destroyed, floor, 'upload', stall);
    await assert.rejects(new Promise((_resolve, reject) => out2.once('error', reject)), /Premature close/);
  });
});

describe('ThroughputWatch', () => {
  it('a watch that is not waiting on the registry keeps one bucket, however many ticks pass', async () => {
    const watch = new ThroughputWatch({ minBytesPerSecond: 10_000, windowSeconds: 0.4 }, () => assert.fail('not waiting: never a stall'));
    try {
      for (let i = 0; i < 20; i++) {
        watch.add(10);
        await sleep(60);
      }
      assert.equal((watch as unknown as { buckets: unknown[] }).buckets.length, 1);
    } finally {
      watch.stop();
    }
  });
});
