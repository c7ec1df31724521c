import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { syncDirectory, writeFileAtomic } from './atomic-write';

const dir = mkdtempSync(join(tmpdir(), 'skiff-atomic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('writeFileAtomic leaves the final file only, with the bytes and mode asked for', async () => {
    const path = join(dir, 'index.json');
    await writeFileAtomic(path, '{"schemaVersion":2}', { mode: 0o600 });
    assert.equal(readFileSync(path, 'utf8'), '{"schemaVersion":2}');
    assert.deepEqual(readdirSync(dir), ['index.json']);
  });

  it('syncDirectory flushes a directory, and a missing one is an error, not a silent success', async () => {
    await syncDirectory(dir);
    await assert.rejects(syncDirectory(join(dir, 'missing')), { code: 'ENOENT' });
  });
});
