import { InvalidArgumentError } from '../errors/domain-error';
import { type Descriptor, type IndexManifest, PLATFORM_WORD, type PlatformChoice, chooseInstance } from './manifest';

/**
 * Platform subsets of a multi-arch image (`platforms: ["linux/amd64", "linux/arm64/v8"]`).
 * Each entry picks the instance skopeo would pick for `--override-os OS --override-arch ARCH
 * [--override-variant VARIANT]` (containers/image's ChooseInstance: variant compatibility,
 * then an OCI index's platform-less entry), so a subset is the union of skopeo's choices.
 */

/** `os/architecture[/variant]`, each part as PLATFORM_WORD. */
export const PLATFORM_SPEC = /^[a-z0-9._-]{1,64}\/[a-z0-9._-]{1,64}(?:\/[a-z0-9._-]{1,64})?$/;

/** Parses one `os/architecture[/variant]`; anything else is INVALID_ARGUMENT. */
export function parsePlatformSpec(spec: string): Required<Pick<PlatformChoice, 'os' | 'architecture'>> & PlatformChoice {
  const parts = spec.split('/');
  if (!PLATFORM_SPEC.test(spec) || parts.some((p) => !PLATFORM_WORD.test(p))) {
    throw new InvalidArgumentError(`platform ${JSON.stringify(spec.slice(0, 200))} is not os/architecture[/variant] (e.g. linux/arm64/v8)`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatformSpec(p: PlatformChoice): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

/**
 * The instances of `index` the specs choose, each once, in the index's order. A spec that
 * matches no instance fails the whole choice (PLATFORM_NOT_FOUND, naming it).
 */
export function choosePlatformInstances(index: IndexManifest, specs: readonly PlatformChoice[]): Descriptor[] {
  if (specs.length === 0) throw new InvalidArgumentError('platforms must name at least one platform');
  const chosen = new Set<string>();
  for (const spec of specs) chosen.add(chooseInstance(index, spec).digest);
  return index.manifests.filter((d, i) => chosen.has(d.digest) && index.manifests.findIndex((x) => x.digest === d.digest) === i);
}

/**
 * The index a platform subset writes when its instances are kept unchanged: the source document
 * with only the chosen entries (every other field kept, compact JSON) — the source's own bytes
 * when every entry is chosen, so choosing everything keeps the digest.
 */
export function filterIndexDocument(sourceBytes: Buffer, index: IndexManifest, chosen: readonly Descriptor[]): Buffer {
  const keep = new Set(chosen.map((d) => d.digest));
  if (index.manifests.every((d) => keep.has(d.digest))) return sourceBytes;
  const doc = JSON.parse(sourceBytes.toString('utf8')) as { manifests: { digest?: unknown }[] };
  doc.manifests = doc.manifests.filter((m) => typeof m.digest === 'string' && keep.has(m.digest));
  return Buffer.from(JSON.stringify(doc));
}
