import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { createApp } from './bootstrap';
import { ConfigError, loadConfig } from './config/app-config';
import { DataDirInUseError, lockDataDir, resetTempDir } from './storage/data-dir';

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
  } catch (e) {
    process.stderr.write(`skiff: ${(e as Error).message}\n`);
    process.exit(e instanceof DataDirInUseError ? 3 : 2);
  }
  mkdirSync(config.storageRoot, { recursive: true });
  const app = await createApp(config, { afterShutdown: unlock });
  await app.listen(config.port, config.host);
  const url = await app.getUrl();
  process.stdout.write(`skiff listening on ${url.replace('[::1]', 'localhost')} (docs at /docs)\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`skiff: failed to start: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
