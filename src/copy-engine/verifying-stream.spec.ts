import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream, VerifyingStream } from './verifying-stream';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const data = Buffer.from('x'.repeat(100_000) + 'end');

function collect(): { sink: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return { chunks, sink: new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }) };
}

test('passes matching content through unchanged and counts bytes', async () => {
  let counted = 0;
  const { sink, chunks } = collect();
  await pipeline(Readable.from([data.subarray(0, 10), data.subarray(10)]), new VerifyingStream({ digest: sha(data), size: data.length }, (n) => (counted += n)), sink);
  assert.ok(Buffer.concat(chunks).equals(data));
  assert.equal(counted, data.length);
});

test('a digest mismatch errors instead of ending, and the last chunk is never delivered', async () => {
  const tampered = Buffer.from(data);
  tampered[5] = 0x79;
  const { sink, chunks } = collect();
  await assert.rejects(
    pipeline(Readable.from([tampered.subarray(0, 50_000), tampered.subarray(50_000)]), new VerifyingStream({ digest: sha(data), size: data.length }), sink),
    (e: { code?: string }) => e.code === 'DIGEST_MISMATCH',
  );
  assert.equal(Buffer.concat(chunks).length, 50_000, 'the final chunk was held back');
});

test('more bytes than announced fail at once; fewer fail at the end', async () => {
  const over = new VerifyingStream({ digest: sha(data), size: 10 });
  await assert.rejects(pipeline(Readable.from([data]), over, new PassThrough().resume()), (e: { code?: string; message: string }) => e.code === 'DIGEST_MISMATCH' && /larger/.test(e.message));
  const under = new VerifyingStream({ digest: sha(data), size: data.length + 1 });
  await assert.rejects(pipeline(Readable.from([data]), under, new PassThrough().resume()), (e: { code?: string; message: string }) => e.code === 'DIGEST_MISMATCH' && /expected/.test(e.message));
});

test('DigestingStream reports digest and size once ended', async () => {
  const d = new DigestingStream();
  assert.throws(() => d.info());
  await pipeline(Readable.from([data]), d, new PassThrough().resume());
  assert.deepEqual(d.info(), { digest: sha(data), size: data.length });
});
