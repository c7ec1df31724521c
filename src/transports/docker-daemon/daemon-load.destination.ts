import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortedError, DomainError, OperationNotSupportedError } from '../../errors/domain-error';
import { digestHex } from '../../image-spec/digest';
import type { DockerReference } from '../../image-spec/docker-reference';
import type { ImageReference } from '../../image-spec/image-reference';
import { parseManifest } from '../../image-spec/manifest';
import { MediaType } from '../../image-spec/media-types';
import { FILE_WRITE_HIGH_WATER_MARK } from '../../storage/atomic-write';
import { ustarHeader } from '../archive/tar-writer';
import { ARCHIVE_METADATA_LIMIT } from '../docker-archive/docker-archive-reader';
import { configFileName, layerFileName, legacyLayers, manifestJson, repoTagString, repositoriesJson } from '../docker-archive/legacy-metadata';
import type { BlobInfo, ImageDestination } from '../transport';
import type { EngineClient } from './engine-client';

/**
 * ImageDestination loading an image into a daemon (`POST /images/load`). Blobs are staged as
 * docker-archive's destination stages them (private temp directory, a blob recorded only after
 * its verified stream ended); putManifest() is the commit: the `docker save` tar docker-archive
 * would write (same entries, same headers) is generated on the fly as the request body — never a
 * file of the whole archive — and the daemon's answer is checked for an error message. The daemon
 * tags the image with `repoTags` when (and only when) the load succeeds. close() removes the staging
 * directory.
 */
export class DaemonLoadDestination implements ImageDestination {
  readonly layerCompression = 'decompress' as const;
  readonly acceptsIndexes = false;
  readonly blobScope = `daemon-load:${randomUUID()}`;
  private readonly staged = new Map<string, { file: string; size: number }>();

  constructor(
    readonly reference: ImageReference,
    readonly hostKey: string,
    private readonly client: EngineClient,
    private readonly stagingDir: string,
    private readonly repoTags: readonly DockerReference[],
    private readonly displayName: string,
  ) {}

  supportedManifestTypes(): readonly string[] {
    return [MediaType.dockerV2S2];
  }

  async tryReuseBlob(blob: BlobInfo): Promise<'present' | undefined> {
    return this.staged.has(blob.digest) ? 'present' : undefined;
  }

  async putBlob(stream: Readable, blob: { known?: BlobInfo; final: () => BlobInfo }, opts: { signal?: AbortSignal }): Promise<BlobInfo> {
    const partial = join(this.stagingDir, `partial-${randomUUID()}`);
    try {
      await pipeline(stream, createWriteStream(partial, { flags: 'wx', mode: 0o600, highWaterMark: FILE_WRITE_HIGH_WATER_MARK }), { signal: opts.signal });
      const info = blob.known ?? blob.final();
      const size = (await stat(partial)).size;
      if (size !== info.size) throw new DomainError('DIGEST_MISMATCH', `blob ${info.digest}: ${size} bytes were written, ${info.size} expected`);
      const file = join(this.stagingDir, `blob-${digestHex(info.digest)}`);
      await rename(partial, file);
      this.staged.set(info.digest, { file, size });
      return info;
    } catch (e) {
      stream.destroy();
      await rm(partial, { force: true });
      if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw e;
    }
  }

  async putManifest(bytes: Buffer, mediaType: string, opts: { instanceDigest?: string; signal?: AbortSignal }): Promise<void> {
    if (opts.instanceDigest !== undefined) throw new OperationNotSupportedError('manifest lists cannot be loaded into a daemon');
    if (mediaType !== MediaType.dockerV2S2) throw new OperationNotSupportedError(`a daemon loads Docker v2s2 images only, not ${mediaType}`);
    const manifest = parseManifest(bytes, mediaType);
    if (manifest.kind !== 'image') throw new OperationNotSupportedError('a daemon loads single images only');
    const stagedOf = (digest: string) => {
      const s = this.staged.get(digest);
      if (!s) throw new Error(`daemon destination: blob ${digest} was not written before the manifest`);
      return s;
    };
    const config = stagedOf(manifest.config.digest);
    if (config.size > ARCHIVE_METADATA_LIMIT) throw new DomainError('BODY_TOO_LARGE', `the image config is ${config.size} bytes, more than ${ARCHIVE_METADATA_LIMIT}`);
    const configBytes = await readFile(config.file);
    const layerDigests = manifest.layers.map((l) => l.digest);
    for (const d of layerDigests) stagedOf(d);

    const body = new PassThrough({ highWaterMark: FILE_WRITE_HIGH_WATER_MARK });
    const produce = async () => {
      const put = async (buf: Buffer) => {
        if (!body.write(buf)) await new Promise<void>((resolve, reject) => {
          const onDrain = () => { body.off('close', onClose); resolve(); };
          const onClose = () => { body.off('drain', onDrain); reject(new Error('the daemon stopped reading the archive')); };
          body.once('drain', onDrain);
          body.once('close', onClose);
        });
      };
      const pad = (size: number) => (size % 512 === 0 ? Promise.resolve() : put(Buffer.alloc(512 - (size % 512))));
      const file = async (name: string, data: Buffer) => {
        await put(ustarHeader({ name, size: data.length, type: 'file' }));
        await put(data);
        await pad(data.length);
      };
      const written = new Set<string>();
      for (const d of layerDigests) {
        if (written.has(d)) continue;
        written.add(d);
        const s = stagedOf(d);
        await put(ustarHeader({ name: layerFileName(d), size: s.size, type: 'file' }));
        let seen = 0;
        for await (const chunk of createReadStream(s.file, { signal: opts.signal, highWaterMark: FILE_WRITE_HIGH_WATER_MARK })) {
          seen += (chunk as Buffer).length;
          await put(chunk as Buffer);
        }
        if (seen !== s.size) throw new Error(`${layerFileName(d)}: expected ${s.size} bytes, the staged file has ${seen}`);
        await pad(s.size);
      }
      await file(configFileName(manifest.config.digest), configBytes);
      const legacy = legacyLayers(layerDigests, configBytes);
      const legacyWritten = new Set<string>();
      for (let i = 0; i < legacy.length; i++) {
        const { id, json } = legacy[i]!;
        if (legacyWritten.has(id)) continue;
        legacyWritten.add(id);
        await put(ustarHeader({ name: `${id}/layer.tar`, size: 0, type: 'symlink', linkname: `../${layerFileName(layerDigests[i]!)}` }));
        await file(`${id}/VERSION`, Buffer.from('1.0'));
        await file(`${id}/json`, json);
      }
      await file('manifest.json', manifestJson({ config: configFileName(manifest.config.digest), repoTags: this.repoTags.map(repoTagString), layers: layerDigests.map(layerFileName) }));
      await file('repositories', repositoriesJson(this.repoTags, legacy[legacy.length - 1]?.id));
      await put(Buffer.alloc(1024));
      body.end();
    };
    const producing = produce().catch((e: unknown) => {
      body.destroy(e as Error);
      throw e;
    });
    let answer: string;
    try {
      answer = await this.client.post('/images/load?quiet=1', body, this.displayName, opts.signal);
    } catch (e) {
      await producing.catch(() => undefined);
      if (opts.signal?.aborted) throw new AbortedError('the copy was cancelled');
      throw e;
    }
    await producing;
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
