import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fsErrorCode, isOutOfSpace } from './storage-errors';
import { isOwnerId } from './temp-names';

/** Where the replicas sharing a storage root keep their leases (one file per live process). */
export const LEASE_DIR = join('.skiff', 'leases');

/** What a lease or lock file says about its holder (any field may be missing: an older version, a full disk). */
export interface LeaseContent {
  owner?: string;
  /** The replica's name (SKIFF_REPLICA_ID or its default), for people reading the file. */
  replicaId?: string;
  host?: string;
  pid?: number;
  leaseMs?: number;
  token?: string;
}

/** A lease or lock file as read now: its heartbeat (mtime), its inode, its content when readable. */
export interface LeaseState {
  mtimeMs: number;
  ino: number;
  content?: LeaseContent;
}

/**
 * Reads a lease or lock file. It is opened before its attributes are read, so an NFS client
 * revalidates them (close-to-open consistency) instead of answering a cached, older mtime.
 * Undefined when the file does not exist.
 */
export async function readLeaseFile(path: string): Promise<LeaseState | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = fsErrorCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    const st = await fh.stat();
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    let content: unknown;
    try {
      content = JSON.parse(buf.subarray(0, bytesRead).toString('utf8'));
    } catch {
      // empty (being written, or written on a full disk) or not ours: the heartbeat still counts
    }
    return { mtimeMs: st.mtimeMs, ino: st.ino, content: typeof content === 'object' && content !== null ? (content as LeaseContent) : undefined };
  } finally {
    await fh.close();
  }
}

export interface StorageOwnerOptions {
  /** This replica's id (8 hex digits: data-dir.ts storageReplicaOf); random when not given. */
  replica?: string;
  /** The replica's name, written into its lease and locks (informational). */
  replicaId?: string;
  storageRoot: string;
  /** How long a heartbeat stays valid; renewed every third of it. */
  leaseMs: number;
  /** Where renewal problems are reported (they never throw). */
  warn?: (message: string) => void;
}

/**
 * The identity under which this process writes into a storage root that several replicas may
 * share, and the proof that it is alive.
 *
 * Contract:
 * - The owner id is `<replica>-<incarnation>`: the replica's id (stable across restarts: derived
 *   from SKIFF_REPLICA_ID, or kept in its data directory, of which one process at a time is the
 *   owner; see storageReplicaOf) and a fresh id per process. Every temp name (temp-names.ts) and
 *   lock file this process creates carries it.
 * - The lease `.skiff/leases/<owner>` in the storage root is created at start and its mtime is
 *   renewed every leaseMs/3 (utimes: renewing needs no free space, so a full disk does not make
 *   a live replica look dead); lock files the process holds are renewed with it. stop() ends
 *   the renewal and removes the lease.
 * - An owner is provably gone (isGone) when it is an earlier incarnation of this replica (unless
 *   its lease is live and held from another host or by another live process of this host: a
 *   copied data directory, or a SKIFF_REPLICA_ID given to two processes), or when its lease is
 *   missing or has not been renewed for a lease period (the longer of ours and the one it
 *   announced). Such a twin is reported at start. Replicas compare mtimes with their own clocks: the hosts sharing
 *   a storage root must keep their clocks in step (NTP) to well within a lease period.
 */
export class StorageOwner {
  readonly id: string;
  private timer?: NodeJS.Timeout;
  private readonly held = new Set<string>();
  private stopped = false;

  private constructor(
    readonly replica: string,
    readonly incarnation: string,
    private readonly storageRoot: string,
    readonly leaseMs: number,
    private readonly warn: (message: string) => void,
    private readonly replicaId: string | undefined,
  ) {
    this.id = `${replica}-${incarnation}`;
  }

  /** Creates the lease (best effort: a storage root that cannot take it is reported, not fatal) and starts renewing it. */
  static async start(opts: StorageOwnerOptions): Promise<StorageOwner> {
    const replica = opts.replica ?? randomBytes(4).toString('hex');
    const owner = new StorageOwner(replica, randomBytes(4).toString('hex'), opts.storageRoot, opts.leaseMs, opts.warn ?? (() => undefined), opts.replicaId);
    if (!isOwnerId(owner.id)) throw new Error(`invalid replica id ${JSON.stringify(replica)}`);
    await owner.writeLease().catch((e: unknown) => owner.warn(`cannot create the storage lease in the storage root: ${(e as Error).message}`));
    await owner.reportTwins().catch(() => undefined);
    owner.timer = setInterval(() => void owner.renew(), Math.max(100, Math.floor(opts.leaseMs / 3)));
    owner.timer.unref();
    return owner;
  }

  /** How long a writer waits for a layout lock: long enough for a dead holder's lease to lapse. */
  get lockWaitMs(): number {
    return Math.max(30_000, 2 * this.leaseMs + 5_000);
  }

  leasePath(owner: string = this.id): string {
    return join(this.storageRoot, LEASE_DIR, owner);
  }

  /** What this process writes into lease and lock files. */
  content(extra: LeaseContent = {}): string {
    return JSON.stringify({ owner: this.id, ...(this.replicaId !== undefined ? { replicaId: this.replicaId } : {}), host: hostname(), pid: process.pid, leaseMs: this.leaseMs, ...extra } satisfies LeaseContent);
  }

  private async writeLease(): Promise<void> {
    const path = this.leasePath();
    await mkdir(dirname(path), { recursive: true });
    try {
      await writeFile(path, this.content(), { mode: 0o644 });
    } catch (e) {
      if (!isOutOfSpace(e)) throw e;
      // No room for the content: an empty lease still carries the heartbeat.
      await (await open(path, 'a')).close();
    }
  }

  /** Renews the lease and every lock held. Never rejects. */
  async renew(): Promise<void> {
    if (this.stopped) return;
    const now = new Date();
    try {
      await utimes(this.leasePath(), now, now);
    } catch (e) {
      if (fsErrorCode(e) === 'ENOENT') {
        // removed by someone who took us for gone (we were frozen for a whole lease period?)
        await this.writeLease().catch((err: unknown) => this.warn(`cannot recreate the storage lease: ${(err as Error).message}`));
      } else {
        this.warn(`cannot renew the storage lease: ${(e as Error).message}`);
      }
    }
    await Promise.all([...this.held].map((p) => utimes(p, now, now).catch(() => undefined)));
  }

  /** Renews `path` (a lock file this process created) with the lease until the returned function is called. */
  hold(path: string): () => void {
    this.held.add(path);
    return () => {
      this.held.delete(path);
    };
  }

  holds(path: string): boolean {
    return this.held.has(path);
  }

  /** Whether a lease or lock state has not been renewed for a lease period (ours or its own, the longer). */
  lapsed(state: LeaseState, now: number = Date.now()): boolean {
    const announced = state.content?.leaseMs;
    const ttl = Math.max(this.leaseMs, typeof announced === 'number' && Number.isFinite(announced) ? announced : 0);
    return now - state.mtimeMs > ttl;
  }

  /**
   * Whether the process `owner` (an owner id) is provably gone: an earlier incarnation of this
   * replica (unless its lease is live on another host: a copied data directory), or a process
   * whose lease is missing or lapsed. This process is never gone; an id that is not an owner id
   * is never judged gone (nothing is removed that cannot be attributed).
   */
  async isGone(owner: string): Promise<boolean> {
    if (owner === this.id || !isOwnerId(owner)) return false;
    const lease = await readLeaseFile(this.leasePath(owner));
    if (owner.startsWith(`${this.replica}-`)) return !(lease !== undefined && !this.lapsed(lease) && liveElsewhere(lease.content));
    return lease === undefined || this.lapsed(lease);
  }

  /** Warns about live processes that hold leases under this replica id (see isGone): each replica needs its own id. */
  private async reportTwins(): Promise<void> {
    const dir = join(this.storageRoot, LEASE_DIR);
    for (const name of await readdir(dir)) {
      if (name === this.id || !name.startsWith(`${this.replica}-`) || !isOwnerId(name)) continue;
      const lease = await readLeaseFile(join(dir, name));
      if (!lease || this.lapsed(lease) || !liveElsewhere(lease.content)) continue;
      const who = `${lease.content?.host ?? '?'} pid ${lease.content?.pid ?? '?'}`;
      this.warn(`another live process (${who}) shares this replica's storage id ${this.replica} on the storage root: give every replica its own SKIFF_REPLICA_ID (its files are left alone until its lease lapses)`);
    }
  }

  /** Ends the renewal and removes the lease: call once this process writes nothing more. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await rm(this.leasePath(), { force: true }).catch(() => undefined);
  }
}

/** Whether a process is running with this pid (EPERM: running, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return fsErrorCode(e) !== 'ESRCH';
  }
}

/**
 * Whether a live lease of this replica's id was written by another process than an earlier
 * incarnation of this one: from another host, or from a live process of this host other than
 * this one (a restarted container runs with the pid of its predecessor: that one is gone).
 */
function liveElsewhere(content: LeaseContent | undefined): boolean {
  if (content?.host === undefined) return false;
  if (content.host !== hostname()) return true;
  const pid = content.pid;
  return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid);
}
