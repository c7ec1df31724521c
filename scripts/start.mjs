// `npm start`: builds only when the build is missing or stale (scripts/build.mjs: a separate
// directory per build, `dist` switched atomically, nothing a running process loads is ever
// deleted), then runs the service in this process from that build's own directory. While it runs,
// the build is marked in use (`.build/<hash>/.in-use/<pid>`) so later builds keep it.
//
// A production start does no build at all: `node dist/main.js`.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ensureBuild } from './build.mjs';

let dir;
try {
  dir = ensureBuild();
} catch (e) {
  process.stderr.write(`skiff: build failed: ${e.message}\n`);
  process.exit(1);
}
const mark = join(dir, '.in-use', String(process.pid));
try {
  mkdirSync(join(dir, '.in-use'), { recursive: true });
  writeFileSync(mark, '');
  process.once('exit', () => rmSync(mark, { force: true }));
} catch {
  // best effort: an unmarked build is still kept while it is among the newest
}
createRequire(import.meta.url)(join(dir, 'main.js'));
