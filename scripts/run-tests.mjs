// Runs the unit specs and the e2e specs (compiled into .test-build by `pretest`) with
// node's test runner. Arguments narrow the run: `npm test -- images` runs files whose path
// contains "images"; `--unit` runs only the unit specs (*.spec.js, no e2e), `--e2e` only the
// e2e specs; both combine with substrings (`npm test -- --unit copy-engine`). A compiled spec
// whose TypeScript source is gone (moved or deleted since the last build) is not run.
//
// The contract check: every service the e2e suites start is reached through a recording tap
// (test/support/contract-tap.ts) writing into a fresh SKIFF_TEST_CONTRACT_DIR; once the suites
// have finished, test/recorded-answers.check.ts holds what was recorded against the OpenAPI
// document. Its result counts like any test's.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`Node ${process.versions.node} is too old: run the tests with "npm test" (the project pins Node 24)`);
  process.exit(1);
}
const root = join(import.meta.dirname, '..');
const build = join(root, '.test-build');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const e2eOnly = args.includes('--e2e');
const unknown = args.filter((a) => a.startsWith('--') && a !== '--unit' && a !== '--e2e');
if (unknown.length > 0 || (unitOnly && e2eOnly)) {
  console.error(`usage: run-tests.mjs [--unit | --e2e] [path substring ...]${unknown.length ? ` (unknown option ${unknown.join(', ')})` : ''}`);
  process.exit(2);
}
const filters = args.filter((a) => !a.startsWith('--'));

const isE2e = (f) => f.endsWith('.e2e-spec.js');
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(spec|e2e-spec)\.js$/.test(name)) files.push(p);
  }
};
if (existsSync(build)) walk(build);
const stale = files.filter((f) => !existsSync(join(root, relative(build, f)).replace(/\.js$/, '.ts')));
if (stale.length > 0) console.error(`not running ${stale.length} compiled spec(s) whose source is gone: ${stale.map((f) => relative(build, f)).join(', ')}`);
const selected = files
  .filter((f) => !stale.includes(f))
  .filter((f) => (unitOnly ? !isE2e(f) : e2eOnly ? isE2e(f) : true))
  .filter((f) => filters.length === 0 || filters.some((x) => relative(build, f).includes(x)))
  .sort((a, b) => Number(isE2e(a)) - Number(isE2e(b)) || a.localeCompare(b));
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const contractDir = mkdtempSync(join(tmpdir(), 'skiff-contract-'));
const env = { ...process.env, SKIFF_TEST_CONTRACT_DIR: contractDir };
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...selected], {
  stdio: 'inherit',
  cwd: root,
  env,
});
let status = r.status ?? 1;
const check = join(build, 'test/recorded-answers.check.js');
if (existsSync(check) && readdirSync(contractDir).length > 0) {
  console.log('\n== contract check: the answers recorded during the run against openapi/openapi.json');
  const c = spawnSync(process.execPath, ['--test', '--test-reporter=spec', check], { stdio: 'inherit', cwd: root, env });
  if (status === 0) status = c.status ?? 1;
}
rmSync(contractDir, { recursive: true, force: true });
process.exit(status);
