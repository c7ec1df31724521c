// first: sizes V8's young generation before anything else allocates (see young-generation.ts)
import './config/young-generation';
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import { createApp } from './bootstrap';
import { ConfigError, loadConfig } from './config/app-config';
import { Logger } from 'nestjs-pino';
import { DataDirInUseError, lockDataDir, resetTempDir, sweepDataDir } from './storage/data-dir';
import { LocalStorage } from './storage/local-storage';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`skiff: configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let unlock = (): void => undefined;
  try {
    unlock = lockDataDir(config.dataDir);
    resetTempDir(config.dataDir, config.storageRoot);
    sweepDataDir(config.dataDir);
  } catch (e) {
    process.stderr.write(`skiff: ${(e as Error).message}\n`);
    process.exit(e instanceof DataDirInUseError ? 3 : 2);
  }
  mkdirSync(config.storageRoot, { recursive: true });
  const app = await createApp(config, { afterShutdown: unlock });
  await app.listen(config.port, config.host);
  const url = await app.getUrl();
  process.stdout.write(`skiff listening on ${url.replace('[::1]', 'localhost')} (docs at /docs)\n`);
  sweepStorageRootInBackground(app.get(LocalStorage), app.get(Logger));
}

/**
 * The start-up sweep of the storage root: what interrupted writes of gone owners (this
 * replica's earlier incarnations, replicas whose lease lapsed) left there. It runs after the
 * service listens (a big storage root never delays the start) and logs what it removed.
 */
function sweepStorageRootInBackground(local: LocalStorage, log: Logger): void {
  local.sweepStorageRoot().then(
    (r) => {
      const paths = r.removed.slice(0, 50).map((p) => relative(local.storageRoot, p));
      const more = r.removed.length > paths.length ? ', …' : '';
      const restored = r.restored.length ? `; put back ${r.restored.length} dir: images an interrupted replacement had moved aside: ${r.restored.map((p) => relative(local.storageRoot, p)).join(', ')}` : '';
      log.log(`storage sweep finished: removed ${r.removed.length} leftovers (${r.bytes} bytes)${paths.length ? `: ${paths.join(', ')}${more}` : ''}${restored}`, 'Storage');
    },
    (e: unknown) => log.warn(`storage sweep failed: ${(e as Error).message}`, 'Storage'),
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`skiff: failed to start: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
