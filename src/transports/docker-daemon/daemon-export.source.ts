import { posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';
import { AbortedError, DomainError, OperationNotSupportedError } from '../../errors/domain-error';
import { digestOf } from '../../image-spec/digest';
import type { DockerReference } from '../../image-spec/docker-reference';
import type { ImageReference } from '../../image-spec/image-reference';
import { ArchiveInvalidError } from '../archive/tar-policy';
import { parseManifestJson } from '../docker-archive/docker-archive-reader';
import { compressionOfHead, dockerSaveManifest, layerDiffIds } from '../docker-archive/docker-save-image';
import type { BlobReadOptions, BlobStream, ImageSource, ManifestBlob } from '../transport';
import type { EngineClient } from './engine-client';
import { MANIFEST_SIZE_LIMIT } from '../../image-spec/manifest';

/** JSON-looking entries kept from the first pass, in total (configs, manifest.json, index.json). */
const SMALL_JSON_BUDGET = 16 * 1024 * 1024;

interface EntryInfo {
  size: number;
  /** Symlink target (resolved to an archive path) for symlinks. */
  link?: string;
  /** Whether the entry begins with gzip/zstd magic. */
  compressed: boolean;
}

/**
 * ImageSource over an image a daemon exports (`GET /images/{name}/get`, a `docker save` tar),
 * without storing the image: the manifest is generated exactly as docker-archive's (Docker
 * v2s2, the config as exported, one layer per `rootfs.diff_ids` entry, digest = DiffID, size =
 * the layer file's size, announced `…tar.gzip` but streamed plain), so inspect and copies answer
 * as `skopeo … docker-daemon:` does.
 *
 * Trade-off (documented in the README): nothing is written to disk and at most the small JSON
 * entries are held in memory, but every getBlob() of a layer asks the daemon for a new export and
 * streams only that entry (skipping the others), so the daemon produces the export 1 + layers
 * times. The daemon exports the same image identically each time; the engine verifies every
 * layer against its DiffID, so a changed image fails the copy (DIGEST_MISMATCH), never corrupts it.
 *
 * Contract: open() makes the first pass (manifest.json, the config, each entry's size); calls may
 * run concurrently afterwards (each getBlob() has its own export stream); destroying a returned
 * stream ends its export request at once.
 */
export class DaemonExportSource implements ImageSource {
  private constructor(
    readonly reference: ImageReference,
    readonly dockerReference: DockerReference | undefined,
    private readonly client: EngineClient,
    private readonly exportPath: string,
    private readonly displayName: string,
    private readonly manifest: ManifestBlob,
    private readonly config: { digest: string; bytes: Buffer },
    /** DiffID → archive path and size of the layer file. */
    private readonly layers: Map<string, { path: string; size: number }>,
  ) {}

  static async open(opts: {
    reference: ImageReference;
    dockerReference?: DockerReference;
    client: EngineClient;
    /** The daemon's name for the image (`docker.io/library/x:tag`, or an ID). */
    imageName: string;
    displayName: string;
    signal?: AbortSignal;
  }): Promise<DaemonExportSource> {
    const { client, displayName, signal } = opts;
    const exportPath = `/images/${encodeURIComponent(opts.imageName)}/get`;
    const entries = new Map<string, EntryInfo>();
    const small = new Map<string, Buffer>();
    let budget = SMALL_JSON_BUDGET;
    await walkExport(await client.exportImage(opts.imageName, displayName, signal), signal, async (header, body) => {
      const name = posix.normalize(header.name.replace(/^\.\//, ''));
      if (header.type === 'symlink' && header.linkname) {
        entries.set(name, { size: 0, link: posix.normalize(posix.join(posix.dirname(name), header.linkname)), compressed: false });
        body.resume();
        return;
      }
      if (header.type !== 'file') {
        body.resume();
        return;
      }
      const size = header.size ?? 0;
      const chunks: Buffer[] = [];
      let first: Buffer | undefined;
      let keep = size <= MANIFEST_SIZE_LIMIT && size <= budget;
      for await (const c of body) {
        const buf = c as Buffer;
        if (first === undefined) {
          first = buf;
          keep = keep && buf[0] === 0x7b; // `{`, or `[` for manifest.json
          if (name === 'manifest.json' || name === 'index.json') keep = size <= MANIFEST_SIZE_LIMIT;
        }
        if (keep) chunks.push(buf);
      }
      const compressed = first !== undefined && compressionOfHead(first) !== 'none';
      entries.set(name, { size, compressed });
      if (keep) {
        small.set(name, Buffer.concat(chunks));
        budget -= size;
      }
    });

    const manifestJson = small.get('manifest.json');
    if (!manifestJson) throw new DomainError('DAEMON_ERROR', `${displayName}: the daemon's export has no manifest.json`);
    const items = parseManifestJson(manifestJson);
    if (items.length !== 1) throw new DomainError('DAEMON_ERROR', `${displayName}: the daemon exported ${items.length} images, expected 1`);
    const item = items[0]!;
    const where = `${displayName}: exported manifest.json`;
    const resolveEntry = (path: string, what: string): { path: string; info: EntryInfo } => {
      let p = posix.normalize(path);
      for (let hops = 0; hops < 16; hops++) {
        const info = entries.get(p);
        if (!info) break;
        if (info.link === undefined) return { path: p, info };
        p = info.link;
      }
      throw new ArchiveInvalidError(`${where}: ${what} ${JSON.stringify(path)} is not a file of the export`);
    };
    const configPath = resolveEntry(item.Config, 'config').path;
    let configBytes = small.get(configPath);
    if (!configBytes) configBytes = await readEntry(client, exportPath, configPath, displayName, MANIFEST_SIZE_LIMIT, signal);
    const diffIds = layerDiffIds(configBytes, item.Layers.length, where);
    const layers = new Map<string, { path: string; size: number }>();
    diffIds.forEach((diffId, i) => {
      if (layers.has(diffId)) return;
      const { path, info } = resolveEntry(item.Layers[i]!, 'layer');
      if (info.compressed) throw new DomainError('DAEMON_ERROR', `${where}: layer ${JSON.stringify(path)} is compressed; skiff reads daemon exports with plain tar layers only`);
      layers.set(diffId, { path, size: info.size });
    });
    const { manifest, config } = dockerSaveManifest(configBytes, diffIds, (d) => layers.get(d)!.size);
    return new DaemonExportSource(opts.reference, opts.dockerReference, client, exportPath, displayName, manifest, config, layers);
  }

  async getManifest(opts: { instanceDigest?: string; signal?: AbortSignal } = {}): Promise<ManifestBlob> {
    if (opts.instanceDigest !== undefined) throw new OperationNotSupportedError('daemon images are single images: they have no manifest list instances');
    return this.manifest;
  }

  actualCompression(descriptor: { digest: string }): 'none' | undefined {
    return this.layers.has(descriptor.digest) ? 'none' : undefined;
  }

  async getBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions = {}): Promise<BlobStream> {
    if (descriptor.digest === this.config.digest) return { stream: Readable.from([this.config.bytes]), size: this.config.bytes.length };
    const layer = this.layers.get(descriptor.digest);
    if (!layer) throw new DomainError('IMAGE_NOT_FOUND', `${this.displayName}: unknown blob ${descriptor.digest}`);
    const body = await this.client.stream(this.exportPath, this.displayName, opts.signal);
    return { stream: entryStream(body, layer.path, this.displayName, opts.signal), size: layer.size };
  }

  async readBlob(descriptor: { digest: string; size: number }, opts: BlobReadOptions & { limit?: number } = {}): Promise<Buffer> {
    if (descriptor.digest === this.config.digest) return this.config.bytes;
    const layer = this.layers.get(descriptor.digest);
    if (!layer) throw new DomainError('IMAGE_NOT_FOUND', `${this.displayName}: unknown blob ${descriptor.digest}`);
    const limit = opts.limit ?? MANIFEST_SIZE_LIMIT;
    if (layer.size > limit) throw new DomainError('BODY_TOO_LARGE', `reading blob ${descriptor.digest}: ${layer.size} bytes exceed the ${limit}-byte limit`);
    const bytes = await readEntry(this.client, this.exportPath, layer.path, this.displayName, limit, opts.signal);
    if (digestOf(bytes) !== descriptor.digest) throw new DomainError('DIGEST_MISMATCH', `reading blob ${descriptor.digest}: the content hashes to ${digestOf(bytes)}`);
    return bytes;
  }

  async close(): Promise<void> {
    // every export stream is owned by its reader; nothing to release
  }
}

/** Parses a tar stream, calling `onEntry` for each entry in order (it must consume the body). */
async function walkExport(body: Readable, signal: AbortSignal | undefined, onEntry: (h: Header, entry: Readable) => Promise<void>): Promise<void> {
  const ex = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, entry, next) => {
      onEntry(header, entry as unknown as Readable).then(
        () => next(),
        (e: unknown) => ex.destroy(e as Error),
      );
    });
    ex.once('finish', resolve);
    ex.once('error', reject);
    body.once('error', (e) => ex.destroy(e));
  });
  body.pipe(ex);
  try {
    await done;
  } catch (e) {
    body.destroy();
    if (signal?.aborted) throw new AbortedError('reading the daemon export was cancelled');
    if (e instanceof DomainError) throw e;
    throw new DomainError('DAEMON_ERROR', `reading the daemon's image export: ${(e as Error).message}`, {}, { cause: e });
  }
}

/** A stream of one entry of an export: the others are skipped; the export ends once the entry has. */
function entryStream(body: Readable, path: string, what: string, signal?: AbortSignal): Readable {
  const out = new PassThrough();
  const ex = tarExtract();
  let found = false;
  const stop = () => {
    body.unpipe(ex);
    body.destroy();
    ex.destroy();
  };
  ex.on('entry', (header, entry, next) => {
    const name = posix.normalize(header.name.replace(/^\.\//, ''));
    if (!found && name === path && header.type === 'file') {
      found = true;
      entry.on('error', (e) => out.destroy(e));
      entry.on('end', () => {
        out.end();
        stop();
      });
      // streamx's pipe always ends its target: forward by hand, with backpressure
      entry.on('data', (c: unknown) => {
        if (!out.write(c as Buffer)) entry.pause();
      });
      out.on('drain', () => entry.resume());
      return;
    }
    entry.on('end', next);
    entry.resume();
  });
  ex.once('finish', () => {
    if (!found) out.destroy(new DomainError('DAEMON_ERROR', `${what}: the export no longer contains ${path} (was the image changed?)`));
  });
  ex.once('error', (e) => {
    if (!out.writableEnded) out.destroy(signal?.aborted ? new AbortedError('the copy was cancelled') : new DomainError('DAEMON_ERROR', `${what}: reading the export: ${e.message}`));
  });
  body.once('error', (e) => {
    if (!out.writableEnded) out.destroy(new DomainError('DAEMON_UNAVAILABLE', `${what}: the export stream broke: ${e.message}`));
  });
  out.once('close', () => {
    if (!out.writableFinished) stop();
  });
  body.pipe(ex);
  return out;
}

async function readEntry(client: EngineClient, exportPath: string, path: string, what: string, limit: number, signal?: AbortSignal): Promise<Buffer> {
  const stream = entryStream(await client.stream(exportPath, what, signal), path, what, signal);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    size += (c as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new DomainError('BODY_TOO_LARGE', `${what}: ${path} is larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
