// Runs the unit specs and the e2e specs (compiled into .test-build by `pretest`) with
// node's test runner. Arguments narrow the run: `npm test -- images` runs files whose path
// contains "images".
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`Node ${process.versions.node} is too old: run the tests with "npm test" (the project pins Node 24)`);
  process.exit(1);
}
const root = join(import.meta.dirname, '..');
const build = join(root, '.test-build');
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(spec|e2e-spec)\.js$/.test(name)) files.push(p);
  }
};
walk(build);
const filters = process.argv.slice(2);
const selected = files
  .filter((f) => filters.length === 0 || filters.some((x) => relative(build, f).includes(x)))
  .sort((a, b) => Number(a.endsWith('.e2e-spec.js')) - Number(b.endsWith('.e2e-spec.js')) || a.localeCompare(b));
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...selected], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
