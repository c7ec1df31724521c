import { execFile } from 'node:child_process';
import { DomainError } from '../errors/domain-error';
import { fsErrorCode } from '../storage/storage-errors';
import type { RegistryAuth } from '../transports/transport';

const HELPER_NAME = /^[a-zA-Z0-9_.-]+$/;

/**
 * Runs `docker-credential-NAME get` with the registry on stdin (the docker credential helper
 * protocol). Returns undefined when the helper has no credentials for that registry.
 * Helper output never reaches logs or errors (it may contain the secret).
 */
export function getFromCredentialHelper(name: string, registry: string, timeoutMs = 10_000): Promise<RegistryAuth | undefined> {
  if (!HELPER_NAME.test(name)) {
    return Promise.reject(new DomainError('CREDENTIAL_HELPER_FAILED', `invalid credential helper name ${JSON.stringify(name)}`));
  }
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) {
        if (/credentials not found/i.test(String(stdout))) return resolve(undefined);
        const code = fsErrorCode(err);
        return reject(
          new DomainError(
            'CREDENTIAL_HELPER_FAILED',
            code === 'ENOENT' ? `credential helper ${program} is not installed` : `credential helper ${program} failed for ${registry}`,
          ),
        );
      }
      try {
        const doc = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
        if (typeof doc.Secret !== 'string' || doc.Secret === '') return resolve(undefined);
        const username = typeof doc.Username === 'string' ? doc.Username : '';
        if (username === '<token>') return resolve({ kind: 'identityToken', identityToken: doc.Secret });
        resolve({ kind: 'basic', username, password: doc.Secret });
      } catch {
        reject(new DomainError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} returned invalid JSON`));
      }
    });
    // A helper may exit without reading stdin (EPIPE); its exit status reports the failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry);
  });
}
