import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { AbortedError, DomainError } from '../../errors/domain-error';
import { fsErrorCode } from '../../storage/storage-errors';

/**
 * A small Docker Engine API client (a pool of up to 16 connections: each layer read is its own export request) (also used for Podman's Docker-compatible API), over a unix
 * socket or tcp (TLS with client certificates as the Docker CLI reads DOCKER_CERT_PATH /
 * DOCKER_TLS_VERIFY). No undici type leaves this folder: bodies are node Readables.
 *
 * Paths are unversioned: the daemon answers with its own current API version, so skiff works
 * with any engine that has `/images/{name}/get` and `/images/load` (API ≥ 1.23).
 *
 * Errors: cannot connect (no socket, refused, reset, timeout) → DAEMON_UNAVAILABLE (503);
 * 404 → IMAGE_NOT_FOUND; any other non-2xx → DAEMON_ERROR (502) with the daemon's message.
 * The endpoint comes from server configuration only, never from a request.
 */
export interface EngineEndpoint {
  /** `unix:///path` or `tcp://host:port` (DOCKER_HOST / CONTAINER_HOST syntax). */
  host: string;
  /** Names the daemon in messages: `Docker Engine`, `Podman`. */
  label: string;
  tls?: { certPath?: string; verify: boolean };
}

export class EngineClient {
  private client?: Pool;

  constructor(readonly endpoint: EngineEndpoint) {}

  private get(): Pool {
    if (this.client) return this.client;
    const { host } = this.endpoint;
    if (host.startsWith('unix://')) {
      this.client = new Pool('http://localhost', { connections: 16, socketPath: host.slice('unix://'.length), headersTimeout: 0, bodyTimeout: 0 });
    } else if (host.startsWith('tcp://') || host.startsWith('http://') || host.startsWith('https://')) {
      const tls = this.endpoint.tls;
      const useTls = host.startsWith('https://') || (tls !== undefined && (tls.verify || tls.certPath !== undefined));
      const hostPort = host.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
      if (!useTls) {
        this.client = new Pool(`http://${hostPort}`, { connections: 16, headersTimeout: 0, bodyTimeout: 0 });
      } else {
        const dir = tls?.certPath;
        const read = (f: string) => (dir ? readFileSync(join(dir, f)) : undefined);
        let connect;
        try {
          connect = { ca: tls?.verify ? read('ca.pem') : undefined, cert: read('cert.pem'), key: read('key.pem'), rejectUnauthorized: tls?.verify ?? false };
        } catch (e) {
          throw new DomainError('DAEMON_UNAVAILABLE', `${this.endpoint.label} at ${host}: cannot read the TLS client files in ${dir}: ${(e as Error).message}`);
        }
        this.client = new Pool(`https://${hostPort}`, { connections: 16, connect, headersTimeout: 0, bodyTimeout: 0 });
      }
    } else {
      throw new DomainError('DAEMON_UNAVAILABLE', `${this.endpoint.label}: unsupported daemon host ${JSON.stringify(host)} (use unix:///path or tcp://host:port)`);
    }
    return this.client;
  }

  private where(): string {
    return `${this.endpoint.label} at ${this.endpoint.host}`;
  }

  private failure(e: unknown, signal?: AbortSignal): Error {
    if (e instanceof DomainError) return e;
    if (signal?.aborted) return new AbortedError('the request to the daemon was cancelled');
    const code = fsErrorCode(e) ?? '';
    const msg = (e as Error).message;
    if (/ENOENT|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EACCES|UND_ERR_SOCKET|UND_ERR_CONNECT|UND_ERR_CLOSED/.test(code) || e instanceof undiciErrors.UndiciError) {
      return new DomainError('DAEMON_UNAVAILABLE', `${this.where()} is not reachable (${code || msg}); is the daemon running?`, { registry: this.endpoint.host, retryable: true }, { cause: e });
    }
    return new DomainError('DAEMON_UNAVAILABLE', `${this.where()}: ${msg}`, { registry: this.endpoint.host, retryable: true }, { cause: e });
  }

  /** A non-2xx answer as a domain error (reads at most 64 KiB of the body for the message). */
  private async statusError(status: number, body: Readable, what: string): Promise<DomainError> {
    let text = '';
    for await (const c of body) {
      if (text.length < 65536) text += (c as Buffer).toString('utf8');
    }
    let message = text.trim();
    try {
      const doc = JSON.parse(text) as { message?: string; cause?: string };
      if (typeof doc.message === 'string') message = doc.message;
    } catch {
      // not JSON: keep the text
    }
    if (status === 404) return new DomainError('IMAGE_NOT_FOUND', `${what}: ${message || 'not found'} (${this.where()})`, { registry: this.endpoint.host, upstreamStatus: status });
    if (status === 400 && /client version|API version|is too (new|old)/i.test(message)) {
      return new DomainError('DAEMON_ERROR', `${this.where()} speaks an incompatible API version: ${message}`, { registry: this.endpoint.host, upstreamStatus: status });
    }
    return new DomainError('DAEMON_ERROR', `${what}: ${this.where()} answered ${status}: ${message}`, { registry: this.endpoint.host, upstreamStatus: status, retryable: status >= 500 });
  }

  /** GET a path; resolves with the body stream of a 2xx answer. The caller must consume or destroy it. */
  async stream(path: string, what: string, signal?: AbortSignal): Promise<Readable> {
    let res;
    try {
      res = await this.get().request({ method: 'GET', path, signal });
    } catch (e) {
      throw this.failure(e, signal);
    }
    const body = res.body as unknown as Readable;
    if (res.statusCode < 200 || res.statusCode > 299) throw await this.statusError(res.statusCode, body, what);
    return body;
  }

  /**
   * The `docker save` export of one image (`/images/{name}/get`). An engine answers an export
   * of an unknown image ID with a 500 ("failed to get digest …"), not a 404: after a 5xx the
   * image is looked up (`/images/{name}/json`), and when the engine does not know it that 404
   * (IMAGE_NOT_FOUND, not retried) is the answer, as skopeo fails; otherwise the export's error.
   */
  async exportImage(name: string, what: string, signal?: AbortSignal): Promise<Readable> {
    const encoded = encodeURIComponent(name);
    try {
      return await this.stream(`/images/${encoded}/get`, what, signal);
    } catch (e) {
      if (!(e instanceof DomainError) || e.code !== 'DAEMON_ERROR' || (e.upstream.upstreamStatus ?? 0) < 500) throw e;
      try {
        await this.json<unknown>(`/images/${encoded}/json`, what, signal);
      } catch (lookup) {
        if (lookup instanceof DomainError && lookup.code === 'IMAGE_NOT_FOUND') throw lookup;
      }
      throw e;
    }
  }

  /** GET a small JSON document (capped at 4 MiB). */
  async json<T>(path: string, what: string, signal?: AbortSignal): Promise<T> {
    const body = await this.stream(path, what, signal);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of body) {
        size += (c as Buffer).length;
        if (size > 4 * 1024 * 1024) throw new DomainError('DAEMON_ERROR', `${what}: the answer of ${this.where()} is larger than 4 MiB`);
        chunks.push(c as Buffer);
      }
    } catch (e) {
      body.destroy();
      throw this.failure(e, signal);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    } catch (e) {
      throw new DomainError('DAEMON_ERROR', `${what}: ${this.where()} answered invalid JSON`, { registry: this.endpoint.host }, { cause: e });
    }
  }

  /** `GET /_ping`: resolves when the daemon answers OK. */
  async ping(signal?: AbortSignal): Promise<void> {
    const body = await this.stream('/_ping', 'ping', signal);
    body.resume();
  }

  /**
   * POSTs a streamed body; resolves with the whole (small, ≤ 4 MiB) answer text of a 2xx answer.
   * When the answer fails or comes early, the body stream is destroyed.
   */
  async post(path: string, body: Readable, what: string, signal?: AbortSignal): Promise<string> {
    let res;
    try {
      res = await this.get().request({ method: 'POST', path, body, headers: { 'content-type': 'application/x-tar' }, signal });
    } catch (e) {
      body.destroy();
      throw this.failure(e, signal);
    }
    const answer = res.body as unknown as Readable;
    if (res.statusCode < 200 || res.statusCode > 299) {
      body.destroy();
      throw await this.statusError(res.statusCode, answer, what);
    }
    let text = '';
    try {
      for await (const c of answer) if (text.length < 4 * 1024 * 1024) text += (c as Buffer).toString('utf8');
    } catch (e) {
      throw this.failure(e, signal);
    }
    return text;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.close().catch(() => undefined);
  }
}

