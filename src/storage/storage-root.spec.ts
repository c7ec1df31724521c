import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInStorageRoot } from './storage-root';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-root-')));
mkdirSync(join(root, 'layouts/app'), { recursive: true });
symlinkSync('/etc', join(root, 'evil'));
symlinkSync('layouts', join(root, 'alias'));

test('resolves relative paths under the root, existing or not', async () => {
  assert.equal(await resolveInStorageRoot(root, 'layouts/app'), join(root, 'layouts/app'));
  assert.equal(await resolveInStorageRoot(root, 'new/dir/x.tar'), join(root, 'new/dir/x.tar'));
  assert.equal(await resolveInStorageRoot(root, 'layouts/../layouts/app'), join(root, 'layouts/app'));
  assert.equal(await resolveInStorageRoot(root, 'alias/app'), join(root, 'layouts/app'));
});

test('refuses absolute paths, .. escapes, symlinks out and NUL bytes', async () => {
  for (const p of ['/etc/passwd', '../x', 'a/../../x', 'evil', 'evil/passwd', 'evil/new/file', 'a\0b']) {
    await assert.rejects(resolveInStorageRoot(root, p), (e: { code?: string }) => e.code === 'PATH_ESCAPES_STORAGE_ROOT', p);
  }
});

test("refuses names reserved for skiff's own files: the lease directory, temp and lock names", async () => {
  // every name a sweep may remove (leftovers.ts): an archive or image stored under it would be swept
  const sweepable = ['index.json.lock', 'a/index.json.lock', '.app.skiff-abc123', '.x.tar.skiff-0123456789abcdef.tmp', '.app.skiff-old-0123456789abcdef', 'index.json.lock.stale-0123456789abcdef01234567'];
  for (const p of ['.skiff', '.skiff/leases/x', 'a/.skiff-tmp-0000aaaa-0000bbbb-000000000000-x', '.skiff-lock-app', 'x/../.skiff/y', ...sweepable]) {
    await assert.rejects(resolveInStorageRoot(root, p), (e: { code?: string; message?: string }) => e.code === 'INVALID_ARGUMENT' && /reserved for skiff's own files/.test(e.message ?? ''), p);
  }
  assert.equal(await resolveInStorageRoot(root, 'a/.skiff'), join(root, 'a/.skiff'));
  assert.equal(await resolveInStorageRoot(root, '.skiffy'), join(root, '.skiffy'));
  assert.equal(await resolveInStorageRoot(root, 'index.json.lock.d/x'), join(root, 'index.json.lock.d/x'));
});
