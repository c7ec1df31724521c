import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createApp, SERVICE_VERSION } from '../bootstrap';
import { loadConfig } from '../config/app-config';
import { buildOpenApiDocument } from './openapi-document';

/**
 * Writes openapi/openapi.json from the code (`npm run openapi`), or with `--check` exits 1
 * when the committed file differs from what the code describes.
 */
async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const target = resolve(__dirname, '../../openapi/openapi.json');
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
