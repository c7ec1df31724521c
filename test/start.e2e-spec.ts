/**
 * Starting never breaks a running process. In a copy of the checkout (sources, scripts and the
 * current build; node_modules linked): `npm start` (scripts/start.mjs) runs without building when
 * the build is fresh; a second `npm start` after a source change rebuilds into a new directory
 * and switches `dist` while the first process keeps running from its own build, which is kept;
 * a production start (`node dist/main.js`) builds nothing. One real build (~20 s) is made.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { onExitSync } from './support/cleanup';
import { freePort } from './support/free-port';
import { REPO_ROOT } from './support/skiff-service';
import { makeTmpDir } from './support/tmp';

interface Started {
  child: ChildProcess;
  url: string;
  log: () => string;
  exited: () => boolean;
}

const started: Started[] = [];
let checkout: string;

async function start(args: string[], name: string, timeoutMs = 120_000): Promise<Started> {
  const port = await freePort();
  const dataDir = await makeTmpDir(`skiff-start-${name}-`);
  const logFile = join(dataDir, 'out.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    cwd: checkout,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dataDir, SKIFF_PORT: String(port), SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'warn' },
    stdio: ['ignore', fd, fd],
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  const unregister = onExitSync(() => child.kill('SIGKILL'));
  child.once('exit', unregister);
  const s: Started = { child, url: `http://127.0.0.1:${port}`, log: () => readFileSync(logFile, 'utf8'), exited: () => exited };
  started.push(s);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`${name} exited during start:\n${s.log()}`);
    if ((await fetch(`${s.url}/healthz`).then((r) => r.status, () => 0)) === 200) return s;
    if (Date.now() > deadline) throw new Error(`${name} did not become healthy:\n${s.log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function healthy(s: Started): Promise<boolean> {
  return !s.exited() && (await fetch(`${s.url}/healthz`).then((r) => r.status, () => 0)) === 200;
}

const builds = () => readdirSync(join(checkout, '.build')).filter((n) => /^[0-9a-f]{16}$/.test(n)).sort();

before(async () => {
  checkout = await makeTmpDir('skiff-checkout-');
  for (const f of ['src', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json']) {
    cpSync(join(REPO_ROOT, f), join(checkout, f), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(checkout, 'node_modules'));
  // the build the suite runs against, for the same sources: fresh in the copy too
  const current = realpathSync(join(REPO_ROOT, 'dist'));
  cpSync(current, join(checkout, '.build', readlinkSync(join(REPO_ROOT, 'dist')).split('/').at(-1)!), { recursive: true });
  // sources edited since the suite's build (while it runs): build the copy once, so it starts fresh
  const { ensureBuild } = (await import(pathToFileURL(join(checkout, 'scripts/build.mjs')).href)) as { ensureBuild: (o: { log: (m: string) => void }) => string };
  ensureBuild({ log: () => undefined });
  const fresh = realpathSync(join(checkout, 'dist'));
  for (const b of builds()) if (realpathSync(join(checkout, '.build', b)) !== fresh) rmSync(join(checkout, '.build', b), { recursive: true });
});

after(async () => {
  await Promise.all(
    started.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.exited()) return resolve();
          s.child.once('exit', () => resolve());
          s.child.kill('SIGTERM');
        }),
    ),
  );
});

describe('npm start from one checkout', () => {
  it('starts without building when the build is fresh; a second start after a source change rebuilds beside it, and both run', async () => {
    const [fresh] = builds();
    assert.ok(fresh, 'the copied build');
    const a = await start(['scripts/start.mjs'], 'a');
    assert.doesNotMatch(a.log(), /building/, 'a fresh build is not rebuilt');
    assert.equal(readlinkSync(join(checkout, 'dist')), `.build/${fresh}`);

    appendFileSync(join(checkout, 'src/main.ts'), '\n// a change that makes the build stale\n');
    const b = await start(['scripts/start.mjs'], 'b');
    assert.match(b.log(), /skiff: building [0-9a-f]{16}/);
    const now = builds();
    assert.equal(now.length, 2);
    const rebuilt = now.find((h) => h !== fresh)!;
    assert.equal(readlinkSync(join(checkout, 'dist')), `.build/${rebuilt}`, 'dist points at the new build');
    assert.ok(existsSync(join(checkout, '.build', fresh!, 'main.js')), 'the build a running process loaded is kept');
    assert.ok(await healthy(a), 'the first process is untouched');
    assert.ok(await healthy(b));

    // a third start with nothing changed builds nothing and runs beside both
    const c = await start(['scripts/start.mjs'], 'c');
    assert.doesNotMatch(c.log(), /building/);
    assert.deepEqual(builds(), now);
    assert.ok((await Promise.all([a, b, c].map(healthy))).every(Boolean));
  });

  it('a production start (node dist/main.js) builds nothing, even with stale sources', async () => {
    appendFileSync(join(checkout, 'src/main.ts'), '\n// stale again\n');
    const before = builds();
    const target = readlinkSync(join(checkout, 'dist'));
    const p = await start(['dist/main.js'], 'prod', 30_000);
    assert.ok(await healthy(p));
    assert.deepEqual(builds(), before);
    assert.equal(readlinkSync(join(checkout, 'dist')), target);
  });
});
