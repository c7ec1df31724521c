import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { extract } from 'tar-stream';
import { TarWriter } from './tar-writer';

const dir = mkdtempSync(join(tmpdir(), 'skiff-tarwriter-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function entries(archive: Buffer): Promise<{ name: string; body: Buffer }[]> {
  const out: { name: string; body: Buffer }[] = [];
  const x = extract();
  x.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c as Buffer));
    stream.on('end', () => {
      out.push({ name: header.name, body: Buffer.concat(chunks) });
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => x.on('finish', () => resolve()).on('error', reject));
  x.end(archive);
  await done;
  return out;
}

describe('TarWriter.addFile', () => {
  const content = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  const source = join(dir, 'layer');
  writeFileSync(source, content);

  it('copies a file through a small reused buffer, to a file and to a stream, byte for byte', async () => {
    const path = join(dir, 'out.tar');
    const fh = await open(path, 'w');
    const tar = TarWriter.toFile(fh);
    await tar.addFile('a/layer.tar', content.length, source, 333);
    await tar.addBytes('b', Buffer.from('x'));
    await tar.close();
    await fh.close();
    const fromFile = readFileSync(path);
    assert.deepEqual(await entries(fromFile), [{ name: 'a/layer.tar', body: content }, { name: 'b', body: Buffer.from('x') }]);

    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.pause(); // the reader is slow: what was written must not change under it
    const viaStream = TarWriter.toStream(stream);
    const writing = (async () => {
      await viaStream.addFile('a/layer.tar', content.length, source, 333);
      await viaStream.addBytes('b', Buffer.from('x'));
      await viaStream.close();
      stream.end();
    })();
    stream.resume();
    await writing;
    await new Promise((r) => stream.once('end', r));
    assert.deepEqual(Buffer.concat(chunks), fromFile);
  });

  it('refuses a file shorter or longer than announced', async () => {
    for (const size of [content.length + 1, content.length - 1]) {
      const fh = await open(join(dir, `bad-${size}.tar`), 'w');
      try {
        await assert.rejects(TarWriter.toFile(fh).addFile('l', size, source), /the staged file has/);
      } finally {
        await fh.close();
      }
    }
  });
});

describe('TarWriter.toStream onto a reader that went away', () => {
  it('fails at once instead of waiting for a drain that never comes', async () => {
    const out = new PassThrough({ highWaterMark: 1024 });
    const w = TarWriter.toStream(out);
    out.destroy();
    await new Promise((r) => setImmediate(r)); // its 'close' has been emitted
    await assert.rejects(w.addBytes('big', Buffer.alloc(64 * 1024)), /the reader stopped reading the archive/);
  });

  it('fails when the reader goes away while it waits for a drain', async () => {
    const out = new PassThrough({ highWaterMark: 1024 });
    const w = TarWriter.toStream(out);
    const writing = w.addBytes('big', Buffer.alloc(64 * 1024));
    setImmediate(() => out.destroy());
    await assert.rejects(writing, /the reader stopped reading the archive/);
  });
});
