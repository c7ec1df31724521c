import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Response } from 'express';
import { fullAccessPrincipal } from '../auth/principal';
import { ImageContentController } from './image-content.controller';
import type { BlobAnswer, ImagesService } from './images.service';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('ImageContentController.getImageBlob', () => {
  it('ends the blob stream (releasing its source) when the client went away before the blob was opened', async () => {
    let stream: Readable | undefined;
    let clientGone!: () => void;
    const gone = new Promise<void>((r) => (clientGone = r));
    // a source that ignores the request signal (a docker-archive config is such a stream)
    const images = {
      blob: async (): Promise<BlobAnswer> => {
        await gone;
        stream = Readable.from([Buffer.from('first'), Buffer.from('second')]);
        return { digest: DIGEST, size: -1, stream };
      },
    } as unknown as ImagesService;
    const controller = new ImageContentController(images);
    const handled = new Promise<unknown>((resolve) => {
      const server = createServer((_req, res) => {
        res.once('close', () => setTimeout(clientGone, 20));
        controller
          .getImageBlob({ digest: DIGEST }, { repository: 'docker-archive:x.tar' } as never, undefined, undefined, new AbortController().signal, res as unknown as Response, fullAccessPrincipal('test'))
          .then(resolve, resolve)
          .finally(() => server.close());
      });
      server.listen(0, '127.0.0.1', () => {
        const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' });
        req.on('error', () => undefined);
        req.end();
        setTimeout(() => req.destroy(), 50);
      });
    });
    const outcome = await handled;
    assert.equal((outcome as { code?: string } | undefined)?.code, 'ABORTED', 'the answer is abandoned, not written to a closed connection');
    await new Promise<void>((resolve, reject) => {
      if (stream!.destroyed) return resolve();
      const t = setTimeout(() => reject(new Error('the blob stream is still open: its source and archive slot are never released')), 5000);
      stream!.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  });
});
