import type { FileHandle } from 'node:fs/promises';
import { AbortedError } from '../../errors/domain-error';
import { digestAlgorithm, digestHex } from '../../image-spec/digest';
import { MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';
import { LayoutInvalidError } from '../../storage/storage-errors';
import { LIMIT_INDEX_FILE, type SmallReadExpectation, smallReadCap, verifySmallRead } from '../../storage/verified-read';
import { type IndexedFile, TarIndex } from '../archive/tar-index';
import type { ArchiveLimits } from '../archive/tar-policy';
import type { BlobStream } from '../transport';
import { type OciIndex, parseOciIndex } from './oci-index';
import type { OciLayoutReader } from './oci-layout-reader';

/**
 * An uncompressed oci-archive read in place: the tar is indexed once (TarIndex: every entry
 * checked as extraction would, ARCHIVE_INVALID for what it would refuse) and files are read by
 * offset, through the archive's own links, from the one open handle it was indexed from, so an
 * archive replaced (renamed over) while the reader is open is never mixed in. Nothing is
 * written anywhere. Messages and checks are OciLayout's (OciLayoutReader's contract).
 *
 * The reader owns the handle from open() on (closed when open() fails, and by close()).
 */
export class OciArchiveReader implements OciLayoutReader {
  private constructor(
    readonly name: string,
    private readonly fh: FileHandle,
    private readonly index: TarIndex,
  ) {}

  static async open(fh: FileHandle, opts: { name: string; limits?: ArchiveLimits; signal?: AbortSignal }): Promise<OciArchiveReader> {
    try {
      return new OciArchiveReader(opts.name, fh, await TarIndex.build(fh, { limits: opts.limits, signal: opts.signal }));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** index.json parsed, or undefined when the archive has none (OciLayout.readIndex). */
  async readIndex(): Promise<OciIndex | undefined> {
    const file = this.index.file('index.json');
    if (!file) return undefined;
    const what = `${this.name}: index.json`;
    return parseOciIndex(await this.readSmall(file, { limit: LIMIT_INDEX_FILE, what }), what);
  }

  async readVerifiedBlob(digest: string, size: number, what: string, limit = MANIFEST_SIZE_LIMIT): Promise<Buffer> {
    const expectation = { limit, what, expected: { digest, size } };
    const cap = smallReadCap(expectation);
    const file = this.blobFile(digest);
    if (!file) throw new LayoutInvalidError(`${what}: blob ${digest} is missing from the layout`);
    return this.readSmall(file, expectation, cap);
  }

  async openBlob(descriptor: { digest: string; size: number }, what: string, signal?: AbortSignal): Promise<BlobStream> {
    const file = this.blobFile(descriptor.digest);
    if (!file) throw new LayoutInvalidError(`${what} is missing from the layout`);
    if (descriptor.size >= 0 && file.size !== descriptor.size) throw new LayoutInvalidError(`${what} has ${file.size} bytes, its descriptor says ${descriptor.size}`);
    if (signal?.aborted) throw new AbortedError('the read was cancelled');
    return { stream: this.index.open(file, signal), size: file.size };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** blobs/<alg>/<hex> in the archive (through its links), or undefined when it is not a regular file there. */
  private blobFile(digest: string): IndexedFile | undefined {
    return this.index.file(`blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`);
  }

  /** A small file read and checked as readSmallFile does (the same bytes looked at, the same messages). */
  private async readSmall(file: IndexedFile, expectation: SmallReadExpectation, cap = smallReadCap(expectation)): Promise<Buffer> {
    const seen = { ...file, size: Math.min(file.size, cap) };
    return verifySmallRead(await this.index.read(seen, cap, expectation.what), expectation);
  }
}
