/**
 * Real CNCF distribution registries (`docker-registry serve`) on loopback for tests.
 *
 * Modes:
 * - 'plain': HTTP, no auth.
 * - 'basic': HTTPS (test CA) + htpasswd (bcrypt) basic auth with a generated user.
 * - 'token': HTTPS (test CA) + `auth.token` backed by an in-process token server
 *   (see token-server.ts) on another loopback port, same CA.
 *
 * Contract: `startRegistry` resolves once `GET /v2/` answers (200 or 401). Every
 * registry gets its own tmp dir holding config, storage, log and (TLS modes) a
 * `certs/` dir with `ca.crt` usable as skopeo's `--cert-dir`. `stop()` is idempotent,
 * kills the process, closes the token server and removes the tmp dir. Registries not
 * stopped are killed (and their dirs removed) at process exit; they never keep the
 * event loop alive on their own.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { onExitSync } from './cleanup';
import { freePort } from './free-port';
import { httpRequest } from './http';
import { createPki, sharedPki, type TestPki } from './pki';
import { makeTmpDir, removeTmpDir } from './tmp';
import { startTokenServer, type TokenAuthorizer, type TokenRequestRecord, type TokenServer } from './token-server';

export type { TokenAccess, TokenAuthorizer, TokenRequestRecord } from './token-server';

const execFileP = promisify(execFile);

export type RegistryMode = 'plain' | 'basic' | 'token';

export interface StartRegistryOptions {
  mode: RegistryMode;
  /** `storage.delete.enabled`; default false (the registry's default). */
  deleteEnabled?: boolean;
  /**
   * `storage.cache.blobdescriptor: inmemory`, as the Debian package's default config has it
   * (benchmarks use it to measure against a registry configured as users run it). Default
   * false: tests that tamper with the storage directory must see it directly.
   */
  blobDescriptorCache?: boolean;
  /** Token mode: anonymous token requests get `pull`. Default false. */
  anonymousPull?: boolean;
  /** Credentials for basic/token modes; generated when absent. */
  username?: string;
  password?: string;
  /** Token mode: token lifetime in seconds (default 300). */
  tokenExpiresIn?: number;
  /** Token mode: custom grant policy (default: authenticated users get what they ask). */
  authorize?: TokenAuthorizer;
  /** Use a CA of its own instead of the per-process shared test CA. */
  freshPki?: boolean;
  /**
   * TLS modes: require a client certificate issued by the test CA (`http.tls.clientcas`);
   * the registry's `clientCertFile` / `clientKeyFile` hold one. Default false.
   */
  requireClientCert?: boolean;
  /** How long to wait for `/v2/`; default 15 s. */
  startTimeoutMs?: number;
}

/** What a client needs to reach a registry; `TestRegistry` satisfies it. */
export interface RegistryEndpoint {
  /** Base URL without trailing slash, e.g. `https://127.0.0.1:5000`. */
  url: string;
  /** CA certificate (PEM file) to trust for https. */
  caFile?: string;
  /** Client certificate and key (PEM files) to present, when the registry requires one. */
  clientCertFile?: string;
  clientKeyFile?: string;
  username?: string;
  password?: string;
}

export interface TestRegistry extends RegistryEndpoint {
  readonly mode: RegistryMode;
  /** `127.0.0.1:PORT`, the registry part of image references. */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly tmpDir: string;
  readonly storageDir: string;
  readonly configFile: string;
  /** Registry stdout+stderr. */
  readonly logFile: string;
  /**
   * TLS modes: CA (PEM) and a dir with `ca.crt` (skopeo `--cert-dir`), plus `client.cert` and
   * `client.key` when the registry requires a client certificate.
   */
  readonly caFile?: string;
  readonly certDir?: string;
  /** basic/token modes. */
  readonly username?: string;
  readonly password?: string;
  /** Token mode: realm URL, service and issuer configured in the registry. */
  readonly tokenRealm?: string;
  readonly tokenService?: string;
  readonly tokenIssuer?: string;
  /** Token mode: every token request, in order (empty array in other modes). */
  readonly tokenRequests: TokenRequestRecord[];
  readonly pid: number;
  readLog(): Promise<string>;
  stop(): Promise<void>;
}

const REGISTRY_BIN = process.env.SKIFF_TEST_REGISTRY_BIN || '/usr/bin/docker-registry';
const TOKEN_SERVICE = 'skiff-test-registry';
const TOKEN_ISSUER = 'skiff-test-token-issuer';

const live = new Set<TestRegistry>();

/** YAML double-quoted scalar (JSON strings are valid YAML). */
const q = (s: string): string => JSON.stringify(s);

function renderConfig(p: {
  storageDir: string;
  port: number;
  deleteEnabled: boolean;
  blobDescriptorCache: boolean;
  tls?: { cert: string; key: string; clientCa?: string };
  htpasswd?: string;
  token?: { realm: string; service: string; issuer: string; rootcertbundle: string };
  /** Sent back in X-Skiff-Test-Instance on every answer: tells this registry from one another process started on the same port. */
  instance: string;
}): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...(p.blobDescriptorCache ? ['  cache:', '    blobdescriptor: inmemory'] : []),
    '  filesystem:',
    `    rootdirectory: ${q(p.storageDir)}`,
    '  delete:',
    `    enabled: ${p.deleteEnabled}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${p.port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    '  headers:',
    `    X-Skiff-Test-Instance: [${q(p.instance)}]`,
  ];
  if (p.tls) lines.push('  tls:', `    certificate: ${q(p.tls.cert)}`, `    key: ${q(p.tls.key)}`);
  if (p.tls?.clientCa) lines.push('    clientcas:', `      - ${q(p.tls.clientCa)}`);
  if (p.htpasswd) lines.push('auth:', '  htpasswd:', '    realm: "skiff-test"', `    path: ${q(p.htpasswd)}`);
  if (p.token) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${q(p.token.realm)}`,
      `    service: ${q(p.token.service)}`,
      `    issuer: ${q(p.token.issuer)}`,
      `    rootcertbundle: ${q(p.token.rootcertbundle)}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Environment without REGISTRY_* variables, which would override the config file. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

async function logTail(logFile: string, max = 4000): Promise<string> {
  try {
    const text = await readFile(logFile, 'utf8');
    return text.length > max ? `…${text.slice(-max)}` : text;
  } catch {
    return '';
  }
}

/** Spawns the registry and waits for `/v2/`; rejects with the log tail on early exit. */
async function spawnAndWait(
  configFile: string,
  logFile: string,
  url: string,
  ca: string | undefined,
  timeoutMs: number,
  instance: string,
  clientCert?: { cert: string; key: string },
): Promise<ChildProcess> {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', fd, fd], env: registryEnv() });
  } finally {
    closeSync(fd);
  }
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exit code ${code ?? 'null'}, signal ${signal ?? 'none'}`;
  });
  child.once('error', (err) => {
    exited = `spawn error: ${err.message}`;
  });
  child.unref();

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`docker-registry exited during startup (${exited}):\n${await logTail(logFile)}`);
    try {
      const res = await httpRequest(`${url}/v2/`, { ca, clientCert, timeoutMs: 2000 });
      // Another test process's registry may hold the port we were given (it was free a moment
      // ago): only an answer carrying our instance marker is ours; otherwise our child fails to
      // bind and exits, and the caller retries on another port.
      if ((res.status === 200 || res.status === 401) && res.headers['x-skiff-test-instance'] === instance) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not answer ${url}/v2/ within ${timeoutMs} ms:\n${await logTail(logFile)}`);
    }
    await sleep(15);
  }
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts a registry; see the module contract. Typical cost: 50–150 ms (+ PKI once per process). */
export async function startRegistry(opts: StartRegistryOptions): Promise<TestRegistry> {
  const { mode } = opts;
  const tmpDir = await makeTmpDir(`skiff-registry-${mode}-`);
  let tokenServer: TokenServer | undefined;
  try {
    const storageDir = join(tmpDir, 'storage');
    const configFile = join(tmpDir, 'config.yml');
    const logFile = join(tmpDir, 'registry.log');
    await mkdir(storageDir);

    const tls = mode !== 'plain';
    let pki: TestPki | undefined;
    let caFile: string | undefined;
    let certDir: string | undefined;
    let caPem: string | undefined;
    if (tls) {
      pki = opts.freshPki ? await createPki(join(tmpDir, 'pki')) : await sharedPki();
      certDir = join(tmpDir, 'certs');
      await mkdir(certDir);
      caFile = join(certDir, 'ca.crt');
      await copyFile(pki.caCertFile, caFile);
      if (opts.requireClientCert) {
        // skopeo's --cert-dir convention: *.crt are CAs, a *.cert/*.key pair is the client certificate.
        await copyFile(pki.clientCertFile, join(certDir, 'client.cert'));
        await copyFile(pki.clientKeyFile, join(certDir, 'client.key'));
      }
      caPem = pki.caPem;
    }

    let username: string | undefined;
    let password: string | undefined;
    let htpasswdFile: string | undefined;
    if (mode !== 'plain') {
      username = opts.username ?? `user-${randomBytes(3).toString('hex')}`;
      password = opts.password ?? randomBytes(12).toString('base64url');
    }
    if (mode === 'basic' && username !== undefined && password !== undefined) {
      htpasswdFile = join(tmpDir, 'htpasswd');
      const { stdout } = await execFileP('htpasswd', ['-Bbn', username, password]);
      await writeFile(htpasswdFile, stdout.trim() + '\n');
    }
    if (mode === 'token' && pki !== undefined && username !== undefined && password !== undefined) {
      tokenServer = await startTokenServer({
        tlsCertPem: pki.serverCertPem,
        tlsKeyPem: pki.serverKeyPem,
        signingKey: pki.tokenKey,
        signingCertDerBase64: pki.tokenCertDerBase64,
        issuer: TOKEN_ISSUER,
        service: TOKEN_SERVICE,
        users: new Map([[username, password]]),
        refreshTokens: new Map([[`identity-${password}`, username]]),
        anonymousPull: opts.anonymousPull,
        expiresIn: opts.tokenExpiresIn,
        authorize: opts.authorize,
      });
    }

    const instance = randomBytes(8).toString('hex');
    // The port is free "now"; retry with another one if someone grabs it first.
    let child: ChildProcess | undefined;
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
      await writeFile(
        configFile,
        renderConfig({
          instance,
          storageDir,
          port,
          deleteEnabled: opts.deleteEnabled ?? false,
          blobDescriptorCache: opts.blobDescriptorCache ?? false,
          tls: pki ? { cert: pki.serverCertFile, key: pki.serverKeyFile, clientCa: opts.requireClientCert ? pki.caCertFile : undefined } : undefined,
          htpasswd: htpasswdFile,
          token: tokenServer && pki
            ? { realm: tokenServer.realm, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, rootcertbundle: pki.caCertFile }
            : undefined,
        }),
      );
      try {
        const clientCert = opts.requireClientCert && pki ? { cert: await readFile(pki.clientCertFile, 'utf8'), key: await readFile(pki.clientKeyFile, 'utf8') } : undefined;
        child = await spawnAndWait(configFile, logFile, url, caPem, opts.startTimeoutMs ?? 15_000, instance, clientCert);
        break;
      } catch (err) {
        if (attempt < 5 && /address already in use/i.test(String(err))) continue;
        throw err;
      }
    }

    const proc = child;
    const ts = tokenServer;
    const unregisterExit = onExitSync(() => {
      proc.kill('SIGKILL');
      rmSync(tmpDir, { recursive: true, force: true });
    });
    let stopping: Promise<void> | undefined;
    const registry: TestRegistry = {
      mode,
      host: `127.0.0.1:${port}`,
      port,
      url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
      tmpDir,
      storageDir,
      configFile,
      logFile,
      caFile,
      certDir,
      clientCertFile: opts.requireClientCert ? pki?.clientCertFile : undefined,
      clientKeyFile: opts.requireClientCert ? pki?.clientKeyFile : undefined,
      username,
      password,
      tokenRealm: ts?.realm,
      tokenService: ts ? TOKEN_SERVICE : undefined,
      tokenIssuer: ts ? TOKEN_ISSUER : undefined,
      tokenRequests: ts?.requests ?? [],
      pid: proc.pid ?? -1,
      readLog: () => readFile(logFile, 'utf8'),
      stop: () => {
        stopping ??= (async () => {
          live.delete(registry);
          proc.kill('SIGTERM');
          await Promise.all([waitExit(proc, 3000), ts?.close()]);
          unregisterExit();
          await removeTmpDir(tmpDir);
        })();
        return stopping;
      },
    };
    live.add(registry);
    return registry;
  } catch (err) {
    await tokenServer?.close();
    await removeTmpDir(tmpDir);
    throw err;
  }
}

/** Stops every registry started by this process and not yet stopped. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((r) => r.stop()));
}
