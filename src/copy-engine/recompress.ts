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

/**
 * zlib output chunk size: the 16 KiB default makes layer-sized streams cost thousands of
 * callbacks, buffers and writes; 256 KiB cut the CPU of a decompressing copy markedly.
 */
const ZLIB_CHUNK = 256 * 1024;

/** Transforms that decompress a layer of the given compression (none for uncompressed). */
export function decompressor(from: LayerCompression): Transform[] {
  if (from === 'gzip') return [createGunzip({ chunkSize: ZLIB_CHUNK })];
  if (from === 'zstd') return [createZstdDecompress({ chunkSize: ZLIB_CHUNK })];
  return [];
}

export function compressor(to: CompressionChoice): Transform {
  if (to.format === 'gzip') return createGzip({ chunkSize: ZLIB_CHUNK, ...(to.level !== undefined ? { level: to.level } : {}) });
  return createZstdCompress({ chunkSize: ZLIB_CHUNK, ...(to.level !== undefined ? { params: { [constants.ZSTD_c_compressionLevel]: to.level } } : {}) });
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
