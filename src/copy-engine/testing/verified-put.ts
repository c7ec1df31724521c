import { Readable, pipeline } from 'node:stream';
import type { BlobInfo, ImageDestination } from '../../transports/transport';
import { VerifyingStream } from '../verifying-stream';

/**
 * putBlob as the copy engine calls it, for the transports' destination specs: the bytes through
 * a VerifyingStream of `claimed`. (Here, not beside them: transports sit below the engine.)
 */
export function putVerifiedBlob(dest: ImageDestination, bytes: Buffer, claimed: { digest: string; size: number }): Promise<BlobInfo> {
  const verified = pipeline([Readable.from([bytes]), new VerifyingStream(claimed)], () => undefined) as unknown as Readable;
  return dest.putBlob(verified, { known: claimed, final: () => claimed }, {});
}
