/**
 * oci-archive: sources read in place. A plain (uncompressed) archive is indexed and read by
 * offset from the file itself: an inspect and a copy from it write nothing to the staging area,
 * so they work with a staging volume far too small to hold the extracted archive (a tmpfs
 * mounted by the test; needs root, skipped otherwise and a failure under
 * SKIFF_TEST_REQUIRE_DAEMONS=1). A gzip-compressed archive (which skopeo reads too) is still
 * extracted into the staging area, and read like skopeo reads it. Archives are written by
 * skopeo, the oracle for the answers.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { listTree } from './support/files';
import { makeLayer, pseudoRandomBytes, pushImage, type PushedImage } from './support/images';
import { inspectImage } from './support/images-api';
import { copySucceeded } from './support/operations';
import { startRegistry, stopAll, type TestRegistry } from './support/registry';
import { startSkiff, type SkiffService } from './support/skiff-service';
import { comparableInspect, skopeoInspect, skopeoManifestDigest, skopeoOk } from './support/skopeo';
import { BALLAST_FILE, mountTmpfs, requireTmpfs, tmpfsProblem, type TestTmpfs } from './support/tmpfs';
import { makeTmpDir, removeTmpDir } from './support/tmp';

const MiB = 1024 * 1024;
let reg: TestRegistry;
let svc: SkiffService;
let fs: TestTmpfs | undefined;
let dataDir: string;
let root: string;
let image: PushedImage;

const R = (repo: string) => `docker://${reg.host}/${repo}`;
/** The staging area's entries (relative), except the tmpfs ballast. */
const staged = () => listTree(join(dataDir, 'tmp'), { dirs: true, skip: (rel) => rel === BALLAST_FILE || rel === 'lost+found' });

before(async () => {
  reg = await startRegistry({ mode: 'plain' });
  // one 6 MiB layer of incompressible bytes: the extracted archive needs more than 6 MiB
  image = await pushImage(reg, 'team/big', '1', { layers: [makeLayer({ blob: pseudoRandomBytes(6 * MiB, 'in-place') })], os: 'linux', architecture: 'amd64', format: 'oci' });
  dataDir = await makeTmpDir('skiff-inplace-data-');
  root = await makeTmpDir('skiff-inplace-root-');
  if (!tmpfsProblem()) fs = mountTmpfs(16 * MiB, { on: join(dataDir, 'tmp') });
  svc = await startSkiff({ SKIFF_STORAGE_ROOT: root, SKIFF_MIN_FREE_BYTES: String(1 * MiB) }, { dataDir });
  await skopeoOk(['copy', '--src-tls-verify=false', R('team/big:1'), `oci-archive:${join(root, 'big.tar')}:big`]);
  writeFileSync(join(root, 'big.tar.gz'), gzipSync(readFileSync(join(root, 'big.tar'))));
});

after(async () => {
  await svc?.stop({ keepData: true });
  fs?.unmount();
  if (dataDir) await removeTmpDir(dataDir);
  if (root) await removeTmpDir(root);
  await stopAll();
});

describe('oci-archive: read in place', () => {
  it('an inspect and a copy from a plain archive write nothing to the staging area (it has no room for the archive)', async (t) => {
    if (!requireTmpfs(t)) return;
    fs!.fill(2 * MiB);
    try {
      const ours = await inspectImage(svc, { image: 'oci-archive:big.tar:big' });
      assert.equal(ours.status, 200, JSON.stringify(ours.body));
      assert.deepEqual(comparableInspect(ours.body), await skopeoInspect(`oci-archive:${join(root, 'big.tar')}:big`));
      const raw = await inspectImage(svc, { image: 'oci-archive:big.tar:big', raw: 'true' });
      assert.equal(raw.status, 200);
      assert.deepEqual(raw.bytes, await skopeoInspect(`oci-archive:${join(root, 'big.tar')}:big`, { raw: true }));
      const op = await copySucceeded(svc, { source: 'oci-archive:big.tar:big', destination: R('back/big:1') });
      assert.equal(op.result!.digest, image.digest);
      assert.equal(await skopeoManifestDigest(R('back/big:1')), image.digest);
      assert.deepEqual(staged(), [], 'nothing was staged');
    } finally {
      fs!.unfill();
    }
  });

  it('a gzip-compressed archive is still read (extracted into the staging area, removed after), as skopeo reads it', async () => {
    const ours = await inspectImage(svc, { image: 'oci-archive:big.tar.gz:big' });
    assert.equal(ours.status, 200, JSON.stringify(ours.body));
    assert.deepEqual(comparableInspect(ours.body), await skopeoInspect(`oci-archive:${join(root, 'big.tar.gz')}:big`));
    const op = await copySucceeded(svc, { source: 'oci-archive:big.tar.gz:big', destination: R('back/gz:1') });
    assert.equal(op.result!.digest, image.digest);
    assert.deepEqual(staged(), [], 'the extracted layout is removed');
  });

  it('a gzip-compressed archive still needs room in the staging area: none is a 507 naming the volume', async (t) => {
    if (!requireTmpfs(t)) return;
    fs!.fill(2 * MiB);
    try {
      const res = await inspectImage(svc, { image: 'oci-archive:big.tar.gz:big' });
      assert.equal(res.status, 507, JSON.stringify(res.body));
      assert.equal(res.body['code'], 'INSUFFICIENT_STORAGE');
      assert.match(String(res.body['detail']), /^oci-archive:big\.tar\.gz: extracting the archive: not enough space on the data directory's volume/);
      assert.deepEqual(staged(), []);
    } finally {
      fs!.unfill();
    }
  });
});
