import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { AbortedError, DomainError } from '../../errors/domain-error';
import type { DockerReference } from '../../image-spec/docker-reference';
import type { ImageReference } from '../../image-spec/image-reference';
import { MediaType } from '../../image-spec/media-types';
import { FILE_WRITE_HIGH_WATER_MARK, type WriteTarget } from '../../storage/atomic-write';
import { TarWriter } from '../archive/tar-writer';
import { StagedBlobs } from '../docker-archive/docker-save-writer';
import type { BlobInfo, ImageDestination } from '../transport';
import type { EngineClient } from './engine-client';

/**
 * ImageDestination loading an image into a daemon (`POST /images/load`). Blobs are staged as
 * docker-archive's destination stages them (private staging directory, a blob recorded only
 * after its verified stream ended; out of space is INSUFFICIENT_STORAGE); putManifest() is the
 * commit: the `docker save` tar docker-archive
 * would write (same entries, same headers; the layers as they came) is generated on the fly as the request body — never a
 * file of the whole archive — and the daemon's answer is checked for an error message. The daemon
 * tags the image with `repoTags` when (and only when) the load succeeds. The archive producer and
 * the request are awaited together: whichever fails first fails the commit, and the other is
 * stopped and observed (no rejection is left unhandled). close() removes the staging directory.
 */
export class DaemonLoadDestination implements ImageDestination {
  /**
   * Layers go to the daemon as they come (gzip stays gzip; the daemon's load decompresses), as
   * containers/image's daemon destination (PreserveOriginal): the manifest is then the source's
   * and so is the digest a copy reports, as skopeo's --digestfile. docker-archive decompresses.
   */
  readonly layerCompression = 'preserve' as const;
  readonly acceptsIndexes = false;
  readonly blobScope = `daemon-load:${randomUUID()}`;
  private readonly staged: StagedBlobs;

  constructor(
    readonly reference: ImageReference,
    readonly hostKey: string,
    private readonly client: EngineClient,
    private readonly stagingDir: string,
    private readonly repoTags: readonly DockerReference[],
    private readonly displayName: string,
    staging: WriteTarget,
  ) {
    this.staged = new StagedBlobs(stagingDir, staging);
  }

  supportedManifestTypes(): readonly string[] {
    return [MediaType.dockerV2S2];
  }

  async tryReuseBlob(blob: BlobInfo): Promise<'present' | undefined> {
    return this.staged.has(blob.digest) ? 'present' : undefined;
  }

  putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    return this.staged.put(stream, blob, opts);
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    const image = await this.staged.prepare(bytes, mediaType, opts, 'a daemon');
    const body = new PassThrough({ highWaterMark: FILE_WRITE_HIGH_WATER_MARK });
    const produce = async () => {
      await this.staged.writeArchive(TarWriter.toStream(body, opts.signal), image, this.repoTags);
      body.end();
    };
    let produceError: { error: unknown } | undefined;
    // Observed from the start: the producer may fail while the request is still being answered.
    const producing = produce().catch((e: unknown) => {
      produceError = { error: e };
      body.destroy(e as Error);
    });
    let answer: string;
    try {
      answer = await this.client.post('/images/load?quiet=1', body, this.displayName, opts.signal);
    } catch (e) {
      // the producer's failure is the cause only when it came first (the request then broke because of it)
      const producerFirst = produceError;
      body.destroy();
      await producing;
      if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw producerFirst ? producerFirst.error : e;
    }
    await producing;
    if (produceError) throw produceError.error;
    const failure = loadError(answer);
    if (failure) throw new DomainError('DAEMON_ERROR', `${this.displayName}: the daemon refused the image: ${failure}`);
  }

  async close(): Promise<void> {
    await rm(this.stagingDir, { recursive: true, force: true });
  }
}

/** The error of a `/images/load` answer: a JSON message stream (`{"stream":…}` / `{"error":…}`). */
function loadError(answer: string): string | undefined {
  for (const line of answer.split(/\r?\n/)) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const doc = JSON.parse(t) as { error?: string; errorDetail?: { message?: string } };
      if (doc.error || doc.errorDetail?.message) return doc.errorDetail?.message ?? doc.error;
    } catch {
      // a partial line: ignore
    }
  }
  return undefined;
}
