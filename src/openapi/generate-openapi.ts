import 'reflect-metadata';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createApp, SERVICE_VERSION } from '../bootstrap';
import { loadConfig } from '../config/app-config';
import { buildOpenApiDocument } from '../http/openapi-document';

/** The checkout this build belongs to: the nearest ancestor with a package.json (builds live in .build/<hash>/, reached through dist/). */
function checkoutRoot(): string {
  for (let d = __dirname; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}

/**
 * Writes openapi/openapi.json from the code (`npm run openapi`), or with `--check` exits 1
 * when the committed file differs from what the code describes.
 */
async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const target = join(checkoutRoot(), 'openapi/openapi.json');
  const dataDir = mkdtempSync(join(tmpdir(), 'skiff-openapi-'));
  try {
    const app = await createApp(loadConfig({ SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'silent' }), { logs: false });
    await app.init();
    const text = JSON.stringify(buildOpenApiDocument(app, SERVICE_VERSION), null, 2) + '\n';
    await app.close();
    if (check) {
      let committed = '';
      try {
        committed = readFileSync(target, 'utf8');
      } catch {
        // missing counts as drift
      }
      if (committed !== text) {
        process.stderr.write('openapi/openapi.json is out of date: run `npm run openapi` and commit the result\n');
        process.exit(1);
      }
      process.stdout.write('openapi/openapi.json matches the code\n');
    } else {
      writeFileSync(target, text);
      process.stdout.write(`wrote ${target}\n`);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
