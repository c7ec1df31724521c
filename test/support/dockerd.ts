/**
 * A real Docker Engine (`dockerd` from Debian's docker.io) for tests, private to the test:
 * its own data root, exec root, pid file, config file and unix socket in a tmp dir; no
 * iptables, no bridge, vfs storage, no userland proxy. dockerd starts and supervises its own
 * containerd (under the exec root); no systemd, no /var/run/docker.sock.
 *
 * What it needs (checked by startDockerd, which throws DockerdUnavailableError saying why):
 * root (uid 0), the `dockerd` binary (and `containerd`, `runc` from the same packages), a
 * kernel with overlay-free vfs (any). Images are only loaded, saved, tagged and imported; no
 * container is ever run, so no cgroup, network namespace or seccomp support is exercised.
 *
 * Contract: startDockerd() resolves once `GET /_ping` answers OK (typically well under a
 * second). stop() is idempotent: SIGTERM, up to 20 s for a clean shutdown, then SIGKILL of
 * dockerd and of its containerd, and the tmp dir is removed. Engines not stopped are killed
 * at process exit. `docker(args)` runs the CLI against this engine only (DOCKER_HOST and a
 * private DOCKER_CONFIG); it never throws for a non-zero exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onExitSync } from './cleanup';
import { makeTmpDir, removeTmpDir } from './tmp';

const DOCKERD_BIN = process.env.SKIFF_TEST_DOCKERD_BIN || '/usr/sbin/dockerd';
/** The CLI of the same package as the daemon when present (another `docker` on PATH may be newer). */
const DOCKER_BIN = process.env.SKIFF_TEST_DOCKER_BIN || (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');

/** The flags skiff's tests start dockerd with (besides the per-engine paths). */
export const DOCKERD_FLAGS = ['--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs', '--userland-proxy=false'];

export class DockerdUnavailableError extends Error {}

/**
 * `SKIFF_TEST_REQUIRE_DAEMONS=1` (set by .ci/run) makes a daemon that cannot start a failure
 * instead of a skip: on a machine that has them, the daemon transports' tests must run.
 */
export const DAEMONS_REQUIRED = process.env.SKIFF_TEST_REQUIRE_DAEMONS === '1';

export interface DockerRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestDockerd {
  /** `unix:///…/docker.sock`, for DOCKER_HOST. */
  readonly host: string;
  readonly socket: string;
  readonly tmpDir: string;
  readonly logFile: string;
  readonly pid: number;
  /** Milliseconds from spawn to the first successful `/_ping`. */
  readonly startMs: number;
  /** Runs the docker CLI against this engine. */
  docker(args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<DockerRun>;
  /** Like docker(), but throws with stderr on a non-zero exit. */
  dockerOk(args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<string>;
  readLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Why dockerd cannot be started here, or undefined when it is worth trying. */
export function dockerdPrerequisiteProblem(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'dockerd needs root (the tests run as a non-root user)';
  if (!existsSync(DOCKERD_BIN)) return `${DOCKERD_BIN} is not installed (Debian package docker.io; scripts/ensure-test-deps.sh installs it)`;
  return undefined;
}

/** Whether a Docker-compatible engine API (dockerd, podman system service) answers `GET /_ping` on this socket. */
export function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function killQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function logTail(logFile: string, max = 4000): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.length > max ? `…${text.slice(-max)}` : text;
}

/** Starts a private dockerd; throws DockerdUnavailableError (with the reason and log tail) when it cannot run here. */
export async function startDockerd(opts: { startTimeoutMs?: number } = {}): Promise<TestDockerd> {
  const problem = dockerdPrerequisiteProblem();
  if (problem) throw new DockerdUnavailableError(problem);
  // unix socket paths are limited to 107 bytes: keep the tmp dir short
  const tmpDir = await makeTmpDir('skiff-dockerd-');
  const dataRoot = join(tmpDir, 'data');
  const execRoot = join(tmpDir, 'exec');
  const cliConfig = join(tmpDir, 'cli');
  for (const d of [dataRoot, execRoot, cliConfig]) mkdirSync(d, { recursive: true });
  const socket = join(tmpDir, 'docker.sock');
  const pidFile = join(tmpDir, 'dockerd.pid');
  const configFile = join(tmpDir, 'daemon.json');
  const logFile = join(tmpDir, 'dockerd.log');
  writeFileSync(configFile, '{}\n');
  writeFileSync(join(cliConfig, 'config.json'), '{}\n');

  const args = [
    ...DOCKERD_FLAGS,
    `--config-file=${configFile}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${execRoot}`,
    `--pidfile=${pidFile}`,
    `--host=unix://${socket}`,
  ];
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  const started = Date.now();
  try {
    child = spawn(DOCKERD_BIN, args, { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, detached: true });
  } finally {
    closeSync(fd);
  }
  child.unref();
  const pid = child.pid!;
  const containerdPidFile = join(execRoot, 'containerd', 'containerd.pid');
  const killAll = () => {
    killQuietly(pid, 'SIGKILL');
    killQuietly(readPid(containerdPidFile), 'SIGKILL');
  };
  const unregister = onExitSync(() => {
    killAll();
  });
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exit code ${code ?? 'null'}, signal ${signal ?? 'none'}`;
  });
  child.once('error', (err) => {
    exited = `spawn error: ${err.message}`;
  });

  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  for (;;) {
    if (exited !== null) {
      killAll();
      unregister();
      const log = await logTail(logFile);
      await removeTmpDir(tmpDir);
      throw new DockerdUnavailableError(`dockerd exited during startup (${exited}):\n${log}`);
    }
    if (await pingSocket(socket)) break;
    if (Date.now() - started > timeoutMs) {
      killAll();
      unregister();
      const log = await logTail(logFile);
      await removeTmpDir(tmpDir);
      throw new DockerdUnavailableError(`dockerd did not answer /_ping within ${timeoutMs} ms:\n${log}`);
    }
    await sleep(50);
  }
  const startMs = Date.now() - started;
  const host = `unix://${socket}`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpDir, DOCKER_HOST: host, DOCKER_CONFIG: cliConfig };

  const docker = (cliArgs: string[], o: { input?: Buffer | string; timeoutMs?: number } = {}): Promise<DockerRun> =>
    new Promise((resolve, reject) => {
      const p = spawn(DOCKER_BIN, cliArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on('data', (c: Buffer) => out.push(c));
      p.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 120_000);
      p.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      p.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      p.stdin.on('error', () => undefined);
      p.stdin.end(o.input ?? '');
    });

  let stopped = false;
  return {
    host,
    socket,
    tmpDir,
    logFile,
    pid,
    startMs,
    docker,
    async dockerOk(cliArgs, o) {
      const r = await docker(cliArgs, o);
      if (r.code !== 0) throw new Error(`docker ${cliArgs.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
      return r.stdout;
    },
    readLog: () => readFile(logFile, 'utf8'),
    async stop() {
      if (stopped) return;
      stopped = true;
      const containerd = readPid(containerdPidFile);
      killQuietly(pid, 'SIGTERM');
      const deadline = Date.now() + 20_000;
      while (alive(pid) && Date.now() < deadline) await sleep(50);
      killQuietly(pid, 'SIGKILL');
      if (containerd !== undefined) {
        const cDeadline = Date.now() + 5_000;
        while (alive(containerd) && Date.now() < cDeadline) await sleep(50);
        killQuietly(containerd, 'SIGKILL');
      }
      unregister();
      await removeTmpDir(tmpDir);
    },
  };
}
