/**
 * A real Podman API service for tests, private to the test: `podman --storage-driver vfs
 * --root … --runroot … system service --time=0 unix://…` with its store, run root, HOME and
 * socket in a tmp dir (no systemd, no cgroup manager, file events).
 *
 * Contract: startPodman() resolves once `GET /_ping` answers OK on the socket; it throws (saying
 * why) when the service cannot run here: it needs root. stop() sends SIGTERM, waits up to 5 s,
 * then SIGKILLs and removes the tmp dir; a service not stopped is killed at process exit.
 * `run(args)` runs the podman CLI against this store only; it never throws for a non-zero exit.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onExitSync } from './cleanup';
import { pingSocket, type DockerRun } from './dockerd';
import { makeTmpDir, removeTmpDir } from './tmp';

export interface TestPodman {
  /** The service's unix socket (CONTAINER_HOST is `unix://` + this). */
  readonly socket: string;
  /** Holds the store (`root`) and run root (`run`) a containers-storage store specifier names. */
  readonly tmpDir: string;
  /** Runs the podman CLI against this store. */
  run(args: string[]): Promise<DockerRun>;
  stop(): Promise<void>;
}

/** Starts a private Podman API service; throws (with the reason) when it cannot run here. */
export async function startPodman(): Promise<TestPodman> {
  if (process.getuid?.() !== 0) throw new Error('podman system service here needs root');
  const tmpDir = await makeTmpDir('skiff-podman-');
  const socket = join(tmpDir, 'podman.sock');
  const globals = ['--storage-driver', 'vfs', '--root', join(tmpDir, 'root'), '--runroot', join(tmpDir, 'run'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpDir, XDG_RUNTIME_DIR: join(tmpDir, 'run') };
  const child = spawn('podman', [...globals, 'system', 'service', '--time=0', `unix://${socket}`], { env, stdio: 'ignore', detached: true });
  child.unref();
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(child.pid!, signal);
    } catch {
      // gone
    }
  };
  const unregister = onExitSync(() => kill('SIGKILL'));
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  const deadline = Date.now() + 30_000;
  while (!(await pingSocket(socket))) {
    if (exited || Date.now() > deadline) {
      unregister();
      await removeTmpDir(tmpDir);
      throw new Error(exited ? 'podman system service exited during startup' : 'podman system service did not answer /_ping in 30 s');
    }
    await sleep(100);
  }
  const run = (args: string[]) =>
    new Promise<DockerRun>((resolve, reject) => {
      const p = spawn('podman', [...globals, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.once('error', reject);
      p.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  return {
    socket,
    tmpDir,
    run,
    async stop() {
      kill('SIGTERM');
      for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(50);
      kill('SIGKILL');
      unregister();
      await removeTmpDir(tmpDir);
    },
  };
}
