import type { Transform } from 'node:stream';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { MediaType } from '../image-spec/media-types';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface CompressionChoice {
  format: 'gzip' | 'zstd';
  level?: number;
}

/** The compression a layer media type declares (containers/image's reading of the suffixes). */
export function compressionOf(mediaType: string): LayerCompression | undefined {
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.gzip') || mediaType.endsWith('+gzip')) return 'gzip';
  if (mediaType.endsWith('.tar') || mediaType === MediaType.ociLayer) return 'none';
  return undefined;
}

/** Transforms that decompress a layer of the given compression (none for uncompressed). */
export function decompressor(from: LayerCompression): Transform[] {
  if (from === 'gzip') return [createGunzip()];
  if (from === 'zstd') return [createZstdDecompress()];
  return [];
}

export function compressor(to: CompressionChoice): Transform {
  if (to.format === 'gzip') return createGzip(to.level !== undefined ? { level: to.level } : {});
  return createZstdCompress(to.level !== undefined ? { params: { [constants.ZSTD_c_compressionLevel]: to.level } } : {});
}

/** The layer media type after recompression, for the manifest format being written. */
export function recompressedLayerType(to: CompressionChoice, ociManifest: boolean): string {
  if (to.format === 'zstd') return MediaType.ociLayerZstd;
  return ociManifest ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip;
}

/** The media type of an uncompressed layer in the manifest format being written. */
export function uncompressedLayerType(ociManifest: boolean): string {
  return ociManifest ? MediaType.ociLayer : 'application/vnd.docker.image.rootfs.diff.tar';
}
