import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors/domain-error';
import { MAX_YAML_CHARS, readYamlDocument } from './yaml-document';

/** A sync-shaped document of about `chars` characters. */
function big(chars: number): string {
  const lines = ['registry.example.com:', '  images:'];
  let size = lines.join('\n').length;
  for (let i = 0; size < chars; i++) {
    const line = `    team/repo${i}: [${Array.from({ length: 20 }, (_, t) => `"v${t}"`).join(', ')}]`;
    if (size + line.length + 1 > chars) break;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n');
}

const code = (c: string) => (e: unknown) => e instanceof DomainError && e.code === c;

describe('readYamlDocument', () => {
  it('reads small and large documents alike (failsafe schema: every scalar a string)', async () => {
    assert.deepEqual(await readYamlDocument('r.example:\n  images:\n    x: [1.0, 2]\n'), { 'r.example': { images: { x: ['1.0', '2'] } } });
    const text = big(200 * 1024);
    const value = (await readYamlDocument(text)) as Record<string, { images: Record<string, string[]> }>;
    assert.equal(Object.keys(value['registry.example.com']!.images).length, text.split('\n').length - 2);
    assert.equal(await readYamlDocument(''), null);
  });

  it('a large document is parsed off the event loop: timers keep firing while it parses', async () => {
    const text = big(MAX_YAML_CHARS - 1);
    let ticks = 0;
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      ticks++;
    }, 5);
    const t0 = performance.now();
    await readYamlDocument(text);
    const took = performance.now() - t0;
    clearInterval(timer);
    // Parsing 256 KiB takes hundreds of ms; on the event loop no timer would fire meanwhile.
    assert.ok(ticks >= 3, `timers fired ${ticks} times during a ${took.toFixed(0)} ms parse`);
    assert.ok(longest < took, `the longest pause (${longest.toFixed(0)} ms) is shorter than the parse (${took.toFixed(0)} ms)`);
  });

  it('refuses documents over the size cap, invalid YAML, duplicate keys and alias bombs with INVALID_ARGUMENT, wherever parsed', async () => {
    await assert.rejects(readYamlDocument('x'.repeat(MAX_YAML_CHARS + 1)), (e) => code('INVALID_ARGUMENT')(e) && /at most 262144/.test((e as Error).message));
    for (const pad of ['', `#${'p'.repeat(20 * 1024)}\n`]) {
      await assert.rejects(readYamlDocument(`${pad}a: [1\n`), (e) => code('INVALID_ARGUMENT')(e) && /not a valid YAML document/.test((e as Error).message));
      await assert.rejects(readYamlDocument(`${pad}a: 1\na: 2\n`), (e) => code('INVALID_ARGUMENT')(e) && /not a valid YAML document/.test((e as Error).message));
      const bomb = `${pad}a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
      await assert.rejects(readYamlDocument(bomb), (e) => code('INVALID_ARGUMENT')(e) && /alias/i.test((e as Error).message));
    }
  });

  it('answers SERVICE_BUSY rather than queueing large documents without bound', async () => {
    const text = big(100 * 1024);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => readYamlDocument(text)));
    assert.ok(results.some((r) => r.status === 'fulfilled'));
    const busy = results.filter((r) => r.status === 'rejected');
    assert.ok(busy.length > 0 && busy.every((r) => code('SERVICE_BUSY')((r as PromiseRejectedResult).reason)), JSON.stringify(results.map((r) => r.status)));
  });

  it('a parse that outgrows its heap or its time ends the thread and answers INVALID_ARGUMENT; the next parse runs normally', async () => {
    const text = big(200 * 1024);
    // the same heap holds a smaller document (on the thread too): the limit met is the document's
    assert.ok(await readYamlDocument(big(12 * 1024), { heapMb: 16, timeoutMs: 60_000 }));
    await assert.rejects(readYamlDocument(text, { heapMb: 16, timeoutMs: 60_000 }), (e) => code('INVALID_ARGUMENT')(e) && /needs more than 16 MiB to parse/.test((e as Error).message));
    await assert.rejects(readYamlDocument(text, { heapMb: 256, timeoutMs: 1 }), (e) => code('INVALID_ARGUMENT')(e) && /took more than 0.001 s to parse/.test((e as Error).message));
    const value = (await readYamlDocument(text)) as Record<string, { images: Record<string, string[]> }>;
    assert.equal(Object.keys(value['registry.example.com']!.images).length, text.split('\n').length - 2);
  });
});
