/**
 * A bounded LRU of immutable, verified content (configs and manifests fetched by digest),
 * keyed by registry, repository and digest. Entries are only read after the caller's own
 * request for the image's top-level manifest succeeded on that repository, so the cache never
 * answers for a repository the caller could not read. Budget in bytes.
 */
export class ContentCache {
  private readonly entries = new Map<string, { bytes: Buffer; mediaType: string }>();
  private size = 0;

  constructor(private readonly budgetBytes: number) {}

  static key(registry: string, repository: string, digest: string): string {
    return `${registry}/${repository}@${digest}`;
  }

  get(key: string): { bytes: Buffer; mediaType: string } | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, bytes: Buffer, mediaType: string): void {
    if (bytes.length > this.budgetBytes / 8) return;
    const old = this.entries.get(key);
    if (old) {
      this.size -= old.bytes.length;
      this.entries.delete(key);
    }
    this.entries.set(key, { bytes, mediaType });
    this.size += bytes.length;
    for (const [k, v] of this.entries) {
      if (this.size <= this.budgetBytes) break;
      this.entries.delete(k);
      this.size -= v.bytes.length;
    }
  }
}

/** A Map that forgets its oldest entries beyond `max`. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
}

/**
 * A Map bounded in time and count, for per-host state: an entry not used (read or written)
 * for `idleMs`, or past its own `expiresAt`, is gone; beyond `max` entries the least recently
 * used goes first. `onEvict` is told of every entry that leaves other than by delete().
 * Expired entries are swept on writes, so memory follows the live set, not the history.
 */
export class ExpiringLru<K, V> {
  private readonly map = new Map<K, { value: V; usedAt: number; expiresAt: number }>();
  private lastSweep = 0;

  constructor(private readonly opts: { max: number; idleMs: number; onEvict?: (key: K, value: V) => void; now?: () => number }) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expiresAt || now - e.usedAt >= this.opts.idleMs) {
      this.map.delete(key);
      this.opts.onEvict?.(key, e.value);
      return undefined;
    }
    e.usedAt = now;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** Stores `value`; `expiresAt` (epoch ms) ends it sooner than the idle time. */
  set(key: K, value: V, expiresAt = Number.POSITIVE_INFINITY): void {
    const now = this.now();
    const old = this.map.get(key);
    this.map.delete(key);
    if (old && old.value !== value) this.opts.onEvict?.(key, old.value);
    this.map.set(key, { value, usedAt: now, expiresAt });
    if (now - this.lastSweep >= Math.min(this.opts.idleMs, 60_000)) this.sweep(now);
    while (this.map.size > this.opts.max) {
      const [k, e] = this.map.entries().next().value as [K, { value: V }];
      this.map.delete(k);
      this.opts.onEvict?.(k, e.value);
    }
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  values(): V[] {
    return [...this.map.values()].map((e) => e.value);
  }

  clear(): void {
    this.map.clear();
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, e] of this.map) {
      if (now >= e.expiresAt || now - e.usedAt >= this.opts.idleMs) {
        this.map.delete(k);
        this.opts.onEvict?.(k, e.value);
      }
    }
  }
}
