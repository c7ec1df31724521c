import { digestOf, isDigest } from '../../image-spec/digest';
import { goFieldValues, goJson } from '../../image-spec/go-json';
import { MediaType } from '../../image-spec/media-types';
import { ArchiveInvalidError } from '../archive/tar-policy';
import type { ManifestBlob } from '../transport';

/**
 * What a `docker save` image (a docker-archive item, or what a daemon exports) turns into, as
 * containers/image's docker/internal/tarfile Source computes it; shared by the docker-archive
 * and docker-daemon sources.
 */

/** `rootfs.diff_ids` of the config, as json.Unmarshal into manifest.Schema2Image finds them. */
export function parseDiffIds(configBytes: Buffer, where: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(configBytes.toString('utf8'));
  } catch (e) {
    throw new ArchiveInvalidError(`${where}: the config is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ArchiveInvalidError(`${where}: the config is not a JSON object`);
  let ids: unknown = null;
  for (const rootfs of goFieldValues(doc as Record<string, unknown>, 'rootfs')) {
    if (rootfs === null) continue;
    if (typeof rootfs !== 'object' || Array.isArray(rootfs)) throw new ArchiveInvalidError(`${where}: config rootfs must be an object`);
    for (const v of goFieldValues(rootfs as Record<string, unknown>, 'diff_ids')) ids = v;
  }
  if (ids === null) return [];
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !isDigest(d))) {
    throw new ArchiveInvalidError(`${where}: config rootfs.diff_ids must be a list of digests`);
  }
  return ids as string[];
}

/** The config's DiffIDs, which must be as many as manifest.json's layers. */
export function layerDiffIds(configBytes: Buffer, layerCount: number, where: string): string[] {
  const diffIds = parseDiffIds(configBytes, where);
  if (diffIds.length !== layerCount) {
    throw new ArchiveInvalidError(`${where}: inconsistent layer count: ${layerCount} in manifest.json, ${diffIds.length} in the config`);
  }
  return diffIds;
}

/**
 * The generated manifest: Docker v2s2, the config as stored, one layer per DiffID with digest =
 * that DiffID, size = `sizeOf` it (the uncompressed layer), media type `…rootfs.diff.tar.gzip`
 * whatever the file's compression (sources stream layers uncompressed).
 */
export function dockerSaveManifest(configBytes: Buffer, diffIds: readonly string[], sizeOf: (diffId: string) => number): { manifest: ManifestBlob; config: { digest: string; bytes: Buffer } } {
  const config = { digest: digestOf(configBytes), bytes: configBytes };
  const bytes = Buffer.from(
    goJson({
      schemaVersion: 2,
      mediaType: MediaType.dockerV2S2,
      config: { mediaType: MediaType.dockerConfig, size: configBytes.length, digest: config.digest },
      layers: diffIds.map((d) => ({ mediaType: MediaType.dockerLayerGzip, size: sizeOf(d), digest: d })),
    }),
  );
  return { manifest: { bytes, mediaType: MediaType.dockerV2S2, digest: digestOf(bytes) }, config };
}

export type LayerCompression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** A layer file's compression, from its first bytes (at least 6 for xz). */
export function compressionOfHead(head: Uint8Array): LayerCompression {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}
