import { DomainError } from '../errors/domain-error';
import { digestOf } from '../image-spec/digest';
import { type Descriptor, type ImageManifest, type IndexManifest, chooseInstance, parseManifest } from '../image-spec/manifest';
import { type ManifestFormat, convertIndex, formatOfManifestType, indexMediaType, manifestMediaType } from '../image-spec/manifest-conversion';
import { choosePlatformInstances, filterIndexDocument } from '../image-spec/platform-list';
import type { DestinationProbe, ImageSource, ManifestBlob } from '../transports/transport';
import { type CopyOptions, preserveDigestsRefusal } from './copy-options';

/**
 * The copy engine's planning: what a copy writes under the destination reference, chosen from
 * the source's manifests and the destination's capabilities, and whether the destination holds
 * it already. copy() decides with these functions before it transfers anything; plan() answers
 * with them for dry runs and for up-to-date checks made before a destination is opened.
 */

/** What a copy would do, decided as copy() decides it; nothing is written. */
export interface CopyPlan {
  /** `skip`: the destination reference already holds what the copy would write; `copy`: something must be written. */
  action: 'skip' | 'copy';
  /**
   * The digest of the manifest written under the destination reference when nothing is
   * converted (no `format`, no recompressed layer): the source's own for a single image, the
   * chosen instance (system), the index (all, sparse, index-only), the filtered index (filtered).
   */
  digest: string;
  mediaType: string;
  /** multiArch=filtered: the source index's digest, when the written index differs from it. */
  sourceDigest?: string;
  /** The instances written (all, filtered, sparse), in index order. */
  instances: readonly Descriptor[];
  /** Asked with `blobs`: every blob of the image(s) written, each once. */
  blobs?: Descriptor[];
  /** Asked with `blobs: 'check'`, when copying: the blobs the destination lacks, which a copy would transfer. */
  transfer?: Descriptor[];
}

/** What a destination is asked while planning. An opened ImageDestination is one too. */
export type PlanDestination = Pick<DestinationProbe, 'reference' | 'acceptsIndexes' | 'supportedManifestTypes'>;

/** What the source's top manifest makes a copy write under the destination reference. */
export type CopyTarget =
  /** A single image (in every mode), or the instance multiArch=system chose from an index (`image`). */
  | { kind: 'image'; top: ManifestBlob; image: ManifestBlob; manifest: ImageManifest }
  /** An index: every instance (all), none (index-only), or a subset of platforms (filtered, sparse; chosen by decide()). */
  | { kind: 'all' | 'index-only' | 'filtered' | 'sparse'; top: ManifestBlob; index: IndexManifest };

/** What copy() decided for a target: the manifest written, its instances, whether it is there already. */
export interface TargetDecision {
  digest: string;
  mediaType: string;
  sourceDigest?: string;
  instances: readonly Descriptor[];
  upToDate: boolean;
}

/** Reads the source's top manifest (and the instance multiArch=system chooses) and says what is written. */
export async function chooseTarget(source: ImageSource, opts: CopyOptions, signal: AbortSignal | undefined): Promise<CopyTarget> {
  const top = await source.getManifest({ signal });
  const parsed = parseManifest(top.bytes, top.mediaType);
  if (parsed.kind === 'schema1') {
    throw new DomainError('OPERATION_NOT_SUPPORTED', 'copying Docker schema1 images is not supported (convert them with a newer tool first)');
  }
  if (parsed.kind === 'image') return { kind: 'image', top, image: top, manifest: parsed };
  const mode = opts.multiArch ?? 'system';
  if (mode !== 'system') return { kind: mode, top, index: parsed };
  const chosen = chooseInstance(parsed, opts.platform);
  const image = await source.getManifest({ instanceDigest: chosen.digest, signal });
  const manifest = parseManifest(image.bytes, image.mediaType);
  if (manifest.kind !== 'image') throw new DomainError('MANIFEST_INVALID', `instance ${chosen.digest} is not an image manifest`);
  return { kind: 'image', top, image, manifest };
}

/** The manifest types to try for an image or index, in order (skopeo's choice). */
export function manifestCandidates(sourceType: string, isIndex: boolean, dest: PlanDestination, opts: CopyOptions): string[] {
  const typeOf = (f: ManifestFormat) => (isIndex ? indexMediaType(f) : manifestMediaType(f));
  const supported = dest.supportedManifestTypes();
  if (opts.format) return [typeOf(opts.format)];
  if (opts.compression?.format === 'zstd') return [typeOf('oci')];
  const list = [sourceType, typeOf('v2s2'), typeOf('oci')].filter((t, i, a) => a.indexOf(t) === i && supported.includes(t));
  if (list.length === 0) throw new DomainError('OPERATION_NOT_SUPPORTED', `the destination accepts none of the manifest types this image can be written as`);
  return list;
}

/** Whether an image of this manifest type would be written unchanged. */
export function keepsType(mediaType: string, dest: PlanDestination, opts: CopyOptions): boolean {
  return manifestCandidates(mediaType, false, dest, opts)[0] === mediaType;
}

/**
 * The index format to write (containers/image's determineListConversion): the forced one, else
 * the source's when the destination stores it, else one the destination stores (an OCI layout
 * turns a Docker manifest list into an OCI index).
 */
export function indexFormat(index: IndexManifest, dest: PlanDestination, opts: Pick<CopyOptions, 'format'>): ManifestFormat {
  if (opts.format) return opts.format;
  const own = formatOfManifestType(index.mediaType)!;
  const supported = dest.supportedManifestTypes();
  if (supported.includes(index.mediaType)) return own;
  return (['oci', 'v2s2'] as const).find((f) => supported.includes(indexMediaType(f))) ?? own;
}

/**
 * The index a filtered copy writes: the source document with only the chosen entries (every
 * other field kept) when the instances and the index type stay as they are — the source's own
 * bytes when every entry is chosen — else the index converted as containers/image writes one.
 */
export function filteredIndex(
  top: ManifestBlob,
  index: IndexManifest,
  chosen: readonly Descriptor[],
  targetFormat: ManifestFormat,
  replaced: Map<string, { digest: string; size: number; mediaType: string }>,
): { bytes: Buffer; mediaType: string } {
  const keep = new Set(chosen.map((d) => d.digest));
  if (replaced.size === 0 && indexMediaType(targetFormat) === index.mediaType) return { bytes: filterIndexDocument(top.bytes, index, chosen), mediaType: index.mediaType };
  const kept: IndexManifest = { ...index, manifests: index.manifests.filter((d) => keep.has(d.digest)) };
  return { bytes: convertIndex(kept, targetFormat, replaced), mediaType: indexMediaType(targetFormat) };
}

/** Refuses a destination that cannot store multi-image indexes. */
export function assertAcceptsIndexes(dest: PlanDestination): void {
  if (dest.acceptsIndexes === false) {
    throw new DomainError('OPERATION_NOT_SUPPORTED', `a ${dest.reference.transport}: destination cannot store multi-arch images; use multiArch=system (optionally with platform)`);
  }
}

/**
 * Decides what a copy writes for `target` and whether the destination reference, holding
 * `current` (undefined: nothing, or not asked because the copy converts), has it already. Throws
 * what copy() throws before it transfers anything for this target.
 */
export function decide(target: CopyTarget, dest: PlanDestination, opts: CopyOptions, current: string | undefined): TargetDecision {
  const { top } = target;
  if (target.kind === 'image') {
    const { image, manifest } = target;
    return { digest: image.digest, mediaType: image.mediaType, instances: [], upToDate: current === image.digest && keepsType(manifest.mediaType, dest, opts) };
  }
  const { index } = target;
  if (target.kind === 'all' || target.kind === 'index-only') {
    return { digest: top.digest, mediaType: top.mediaType, instances: target.kind === 'all' ? index.manifests : [], upToDate: current === top.digest };
  }
  assertAcceptsIndexes(dest);
  if (target.kind === 'filtered') {
    const refusal = preserveDigestsRefusal(opts);
    if (refusal) throw new DomainError('INVALID_ARGUMENT', refusal);
    const chosen = choosePlatformInstances(index, opts.platforms ?? []);
    // What is written when the instances and the index type stay as they are.
    const expected = filteredIndex(top, index, chosen, indexFormat(index, dest, {}), new Map());
    const digest = digestOf(expected.bytes);
    return {
      digest,
      mediaType: expected.mediaType,
      ...(digest !== top.digest ? { sourceDigest: top.digest } : {}),
      instances: chosen,
      upToDate: current === digest && chosen.every((d) => keepsType(d.mediaType, dest, opts)),
    };
  }
  if (opts.format && indexMediaType(opts.format) !== index.mediaType) {
    throw new DomainError('INVALID_ARGUMENT', `multiArch=sparse writes the source index unchanged; it cannot be converted to format ${opts.format} (use multiArch=filtered)`);
  }
  if (opts.compression) throw new DomainError('INVALID_ARGUMENT', 'multiArch=sparse writes the source index unchanged; recompressing its instances would change them (use multiArch=filtered)');
  if (!dest.supportedManifestTypes().includes(index.mediaType)) {
    throw new DomainError('OPERATION_NOT_SUPPORTED', `multiArch=sparse: the destination cannot store ${index.mediaType} unchanged (use multiArch=filtered)`);
  }
  const chosen = choosePlatformInstances(index, opts.platforms ?? []);
  return { digest: top.digest, mediaType: index.mediaType, instances: chosen, upToDate: current === top.digest };
}

/** Every blob of the image(s) a decision writes, each once (reads the instances' manifests). */
export async function blobsOf(source: ImageSource, target: CopyTarget, decision: TargetDecision, signal: AbortSignal | undefined): Promise<Descriptor[]> {
  const manifests =
    target.kind === 'image'
      ? [target.manifest]
      : await Promise.all(
          decision.instances.map(async (d) => {
            const inner = await source.getManifest({ instanceDigest: d.digest, signal });
            const m = parseManifest(inner.bytes, inner.mediaType);
            if (m.kind !== 'image') throw new DomainError('OPERATION_NOT_SUPPORTED', `instance ${d.digest} is not an image manifest (nested indexes are not supported)`);
            return m;
          }),
        );
  const all = manifests.flatMap((m) => [m.config, ...m.layers]);
  return all.filter((b, i) => all.findIndex((x) => x.digest === b.digest) === i);
}
