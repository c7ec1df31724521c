// Builds the service without ever touching files a running skiff may load.
//
// Contract:
// - Each build lives in its own directory `.build/<hash>`, where <hash> is a digest of the build's
//   inputs (src/ without specs, the tsconfigs, nest-cli.json, package-lock.json, this script). A
//   build whose directory is complete is fresh: nothing is compiled.
// - A new build is compiled into a fresh temp directory, marked complete, then renamed to
//   `.build/<hash>` (two builders at once: the first rename wins, the other discards its copy).
// - `dist` is a symbolic link to the current build, replaced atomically (a new link renamed over
//   it): `node dist/main.js` always finds a complete build, and a process started earlier keeps
//   loading from its own directory (Node resolves the link to the real path at start). A `dist`
//   that is still a real directory (a checkout built before this script) is moved into .build/.
// - Older builds are removed, except the newest KEEP_OLD ones and any that a live `npm start`
//   process marked as in use (`.build/<hash>/.in-use/<pid>`).
//
// `node scripts/build.mjs` prints what it did; `import { ensureBuild }` returns the build directory.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILDS = join(ROOT, '.build');
const DIST = join(ROOT, 'dist');
const COMPLETE = '.complete';
const KEEP_OLD = 2;

function inputFiles() {
  const files = ['tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package-lock.json', 'scripts/build.mjs'];
  const walk = (dir) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.isFile() && !e.name.endsWith('.spec.ts')) files.push(rel);
    }
  };
  walk('src');
  return files.sort();
}

/** The digest of the build inputs (16 hex digits). */
export function buildHash() {
  const h = createHash('sha256');
  for (const f of inputFiles()) {
    h.update(f).update('\0');
    h.update(existsSync(join(ROOT, f)) ? readFileSync(join(ROOT, f)) : '').update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

function isComplete(dir) {
  return existsSync(join(dir, COMPLETE)) && existsSync(join(dir, 'main.js'));
}

function compile(hash) {
  mkdirSync(BUILDS, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const outName = `${hash}.tmp-${tag}`;
  const tsconfig = join(BUILDS, `tsconfig.${tag}.json`);
  writeFileSync(tsconfig, JSON.stringify({ extends: '../tsconfig.build.json', compilerOptions: { outDir: `./${outName}` } }));
  try {
    const nest = join(ROOT, 'node_modules/@nestjs/cli/bin/nest.js');
    const r = spawnSync(process.execPath, [nest, 'build', '-p', relative(ROOT, tsconfig)], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`nest build failed (exit ${r.status ?? r.signal})`);
  } finally {
    rmSync(tsconfig, { force: true });
  }
  const out = join(BUILDS, outName);
  writeFileSync(join(out, COMPLETE), `${new Date().toISOString()}\n`);
  const final = join(BUILDS, hash);
  try {
    renameSync(out, final);
  } catch (e) {
    // another builder finished the same build first: use theirs
    rmSync(out, { recursive: true, force: true });
    if (!isComplete(final)) throw e;
  }
  return final;
}

/** Points `dist` at `target` atomically (a new link renamed over the old one). */
function pointDist(target) {
  const wanted = relative(ROOT, target);
  let st;
  try {
    st = lstatSync(DIST);
  } catch {
    st = undefined;
  }
  if (st?.isSymbolicLink() && readlinkSync(DIST) === wanted) return false;
  if (st && !st.isSymbolicLink()) {
    // a real directory from before builds were kept apart: moved aside, never deleted under a live process
    mkdirSync(BUILDS, { recursive: true });
    renameSync(DIST, join(BUILDS, `legacy-${Date.now()}-${randomBytes(2).toString('hex')}`));
  }
  const link = join(ROOT, `.dist-${process.pid}-${randomBytes(4).toString('hex')}`);
  symlinkSync(wanted, link);
  renameSync(link, DIST);
  return true;
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Whether a live process marked the build as in use; the marks of dead processes are removed. */
function inUse(dir) {
  const marks = join(dir, '.in-use');
  let pids = [];
  try {
    pids = readdirSync(marks);
  } catch {
    return false;
  }
  let live = false;
  for (const p of pids) {
    if (/^\d+$/.test(p) && pidAlive(Number(p))) live = true;
    else rmSync(join(marks, p), { force: true });
  }
  return live;
}

/** Removes builds other than `current`, the newest KEEP_OLD others and those in use; stale temp builds of dead builders too. */
function collect(current) {
  let names = [];
  try {
    names = readdirSync(BUILDS);
  } catch {
    return;
  }
  const dirs = names
    .map((n) => ({ n, p: join(BUILDS, n) }))
    .filter(({ p }) => {
      try {
        return statSync(p).isDirectory();
      } catch {
        return false;
      }
    })
    .map((d) => ({ ...d, mtime: statSync(d.p).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  let kept = 0;
  for (const d of dirs) {
    if (d.p === current) {
      inUse(d.p);
      continue;
    }
    const tmp = /\.tmp-(\d+)-/.exec(d.n);
    if (tmp) {
      if (!pidAlive(Number(tmp[1]))) rmSync(d.p, { recursive: true, force: true });
      continue;
    }
    if (inUse(d.p)) continue;
    if (kept < KEEP_OLD) {
      kept++;
      continue;
    }
    rmSync(d.p, { recursive: true, force: true });
  }
}

/** Makes sure `dist` points at a complete build of the current sources; returns its directory. */
export function ensureBuild({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const hash = buildHash();
  let dir = join(BUILDS, hash);
  if (!isComplete(dir)) {
    log(`skiff: building ${hash} (sources changed or no build yet)`);
    dir = compile(hash);
  }
  if (pointDist(dir)) log(`skiff: dist -> ${relative(ROOT, dir)}`);
  collect(dir);
  return dir;
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  try {
    ensureBuild({ log: (m) => console.log(m) });
  } catch (e) {
    console.error(`skiff: build failed: ${e.message}`);
    process.exit(1);
  }
}
