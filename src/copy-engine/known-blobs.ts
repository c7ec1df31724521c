/**
 * Blobs a run of several copies (a sync) has already found or put at its destinations, as
 * `blobScope|digest`. The engine counts such a blob as present without asking the destination
 * again: skopeo asks once per image, so a sync of many tags sharing base layers would ask for
 * each base layer once per tag. Only for the length of one run, whose destinations keep what
 * they were given meanwhile. Bounded: past `max` keys the oldest are forgotten (and asked again).
 */
export class KnownBlobs {
  private readonly keys = new Set<string>();

  constructor(private readonly max = 100_000) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    if (this.keys.has(key)) return;
    if (this.keys.size >= this.max) this.keys.delete(this.keys.values().next().value!);
    this.keys.add(key);
  }

  /** Forgets every blob (their destinations are asked again). */
  clear(): void {
    this.keys.clear();
  }

  get size(): number {
    return this.keys.size;
  }
}
