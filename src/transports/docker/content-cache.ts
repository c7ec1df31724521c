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
