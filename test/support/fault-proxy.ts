/**
 * A plain-HTTP reverse proxy on loopback in front of a real (plain-mode) test registry,
 * with programmable faults, for testing how clients survive hostile upstreams.
 *
 * Contract:
 * - Rules are tried in the order they were added; the first rule whose `method` (when set)
 *   and `path` (tested against the request's path *and* query, e.g.
 *   `/v2/repo/tags/list?n=50`) match, and whose `times` is not used up, applies. Each
 *   application uses up one of its `times` (`Infinity` = forever). Requests matching no rule
 *   are forwarded unchanged — except, with the `referrers` option, referrers API requests,
 *   which the EMULATION in referrers-emulation.ts answers (and manifest PUTs with a subject,
 *   whose answer gets `OCI-Subject`).
 * - Requests and upstream bodies are buffered whole (test content is small); forwarded
 *   answers carry a recomputed `Content-Length`, except HEAD answers, which keep the
 *   upstream's. The client's `Host` header is passed on, so URLs the registry builds
 *   (upload `Location`s) point back at the proxy.
 * - Every request is recorded in `requests`, in arrival order, with the status the client
 *   saw (`'reset'` when the connection was destroyed, `'stalled'` when it never got an
 *   answer) and the fault applied, if any. TLS handshakes (a client probing HTTPS on this
 *   plain port) are not requests; they only count in `connections`.
 * - `close()` is idempotent and destroys every open connection (stalled ones included).
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { sha256Digest } from './images';
import { type ReferrersEmulation, referrersAnswer, subjectHeader } from './referrers-emulation';

export type FaultAction =
  /**
   * Answer this status (no upstream request) with a distribution-style error body
   * (TOOMANYREQUESTS, UNAVAILABLE or UNKNOWN), and `Retry-After` when given.
   */
  | { kind: 'status'; status: 429 | 500 | 502 | 503; retryAfter?: string }
  /**
   * Destroy the connection: `before-headers` as soon as the request arrives;
   * `after-headers` once the upstream's status and headers were sent; `mid-body` after
   * half of the upstream body was sent.
   */
  | { kind: 'reset'; when: 'before-headers' | 'after-headers' | 'mid-body' }
  /**
   * Flip one byte of the upstream body, headers unchanged: the last ASCII digit is changed
   * to another digit (so a JSON body stays valid JSON), else the middle byte.
   */
  | { kind: 'tamper' }
  /** Replace the upstream body with `mib` MiB of `x`; `chunked` drops Content-Length. */
  | { kind: 'oversize'; mib: number; chunked?: boolean }
  /**
   * Replace the upstream body (status 200 unless given); `contentType` replaces the upstream's,
   * `headers` are set on the answer.
   */
  | { kind: 'replace'; body: string | Buffer; contentType?: string; status?: number; headers?: Record<string, string> }
  /** Answer `status` (default 307) with `Location: location`, no upstream request. */
  | { kind: 'redirect'; location: string; status?: 301 | 302 | 303 | 307 | 308 }
  /**
   * Point the `Link` header at `host` (same path and query); when the upstream sent no
   * `Link`, one to `http://host<path>?n=1&last=zzz` is added.
   */
  | { kind: 'link'; host: string }
  /** Announce `digest` (default: the digest of "lie") in `Docker-Content-Digest`. */
  | { kind: 'digest'; digest?: string }
  /** Never answer; the connection stays open until the client or `close()` ends it. */
  | { kind: 'stall' }
  /**
   * Hold matching requests until `count` of them have arrived, then forward them all at once
   * (concurrent clients made to read the same state before any of them writes).
   */
  | { kind: 'gather'; count: number }
  /**
   * A slow transfer. `response` (default): the upstream's answer is forwarded with its headers
   * at once, then its body at `bytesPerSecond` after the first `afterBytes` (default 0) at full
   * speed; 0 bytes/s stops sending there, the connection left open. `request`: the request
   * body is read at `bytesPerSecond` before anything is forwarded.
   */
  | { kind: 'trickle'; bytesPerSecond: number; afterBytes?: number; direction?: 'response' | 'request' }
  /** Forward unchanged, with these headers set on the answer. */
  | { kind: 'headers'; headers: Record<string, string> };

export interface FaultRule {
  /** Upper-case HTTP method; any when absent. */
  method?: string;
  /** Tested against path + query. */
  path: RegExp;
  /** How many matching requests this rule applies to; `Infinity` for every one. */
  times: number;
  action: FaultAction;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query as the client sent them. */
  path: string;
  status: number | 'reset' | 'stalled';
  /** The `kind` of the fault applied, if any. */
  fault?: FaultAction['kind'];
  /** The request's `Authorization` header, if it had one. */
  authorization?: string;
  /** When it arrived (Date.now()). */
  at: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`: the registry part of image references through the proxy. */
  readonly host: string;
  readonly url: string;
  /** The upstream base URL. */
  readonly upstream: string;
  /** Every request so far, in arrival order. */
  readonly requests: ProxiedRequest[];
  /** TCP connections accepted so far (including TLS probes that never became requests). */
  readonly connections: number;
  /** Adds a rule (after the existing ones); returns it, with `times` counting down. */
  addRule(rule: FaultRule): FaultRule;
  /** Removes every rule. */
  clearRules(): void;
  /** The recorded requests whose path+query matches `path` (and `method`, when given). */
  requestsTo(path: RegExp, method?: string): ProxiedRequest[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'content-length']);

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Reads a request body at `bytesPerSecond` (its own pace, so the client's writes back up). */
async function readSlowly(stream: http.IncomingMessage, bytesPerSecond: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    await new Promise((r) => setTimeout(r, Math.max(1, (chunk.length / Math.max(1, bytesPerSecond)) * 1000)));
  }
  return Buffer.concat(chunks);
}

/** Writes `body` after `afterBytes` at `bytesPerSecond` (0: never more), in 100 ms slices; stops when the socket closes. */
function writeSlowly(res: http.ServerResponse, body: Buffer, bytesPerSecond: number, afterBytes: number): void {
  let sent = Math.min(afterBytes, body.length);
  if (sent > 0) res.write(body.subarray(0, sent));
  if (bytesPerSecond <= 0) return;
  const slice = Math.max(1, Math.floor(bytesPerSecond / 10));
  const timer = setInterval(() => {
    if (res.destroyed || res.socket?.destroyed) {
      clearInterval(timer);
      return;
    }
    const next = Math.min(body.length, sent + slice);
    if (next > sent) res.write(body.subarray(sent, next));
    sent = next;
    if (sent >= body.length) {
      clearInterval(timer);
      res.end();
    }
  }, 100);
  res.once('close', () => clearInterval(timer));
}

function tamper(body: Buffer): Buffer {
  const out = Buffer.from(body);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! >= 0x30 && out[i]! <= 0x39) {
      out[i] = out[i]! ^ 0x01;
      return out;
    }
  }
  if (out.length > 0) out[out.length >> 1] = out[out.length >> 1]! ^ 0x01;
  return out;
}

function rewriteLink(link: string | undefined, host: string, path: string): string {
  if (!link) {
    const p = path.split('?')[0];
    return `<http://${host}${p}?n=1&last=zzz>; rel="next"`;
  }
  return link.replace(/<([^>]*)>/g, (_m, target: string) => {
    const u = new URL(target, 'http://placeholder');
    return `<http://${host}${u.pathname}${u.search}>`;
  });
}

export interface FaultProxyOptions {
  /** Serve an emulated OCI 1.1 referrers API from the registry's storage (see referrers-emulation.ts). */
  referrers?: ReferrersEmulation;
}

/** Starts a proxy to `upstream` (e.g. a plain TestRegistry's `url`) on a free loopback port. */
export async function startFaultProxy(upstream: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstreamUrl = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const rules: FaultRule[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;

  const gathering = new Map<FaultAction, { arrived: number; release: (() => void)[] }>();
  const gatherAt = (action: FaultAction & { kind: 'gather' }): Promise<void> => {
    const g = gathering.get(action) ?? { arrived: 0, release: [] };
    gathering.set(action, g);
    g.arrived++;
    const here = new Promise<void>((r) => g.release.push(r));
    if (g.arrived >= action.count) for (const r of g.release.splice(0)) r();
    return here;
  };

  const take = (method: string, path: string): FaultRule | undefined => {
    const rule = rules.find((r) => r.times > 0 && (r.method === undefined || r.method === method) && r.path.test(path));
    if (rule) rule.times--;
    return rule;
  };

  const forward = (req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      if (body.length > 0) headers['content-length'] = String(body.length);
      const up = http.request(
        { protocol: 'http:', hostname: upstreamUrl.hostname, port: upstreamUrl.port, method: req.method, path: req.url, headers, agent },
        (res) => {
          readAll(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }), reject);
        },
      );
      up.on('error', reject);
      up.end(body);
    });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const record: ProxiedRequest = { method, path, status: 'stalled', at: Date.now(), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
    requests.push(record);
    const rule = take(method, path);
    const action = rule?.action;
    if (action) record.fault = action.kind;
    res.on('error', () => undefined);
    const reqBody = action?.kind === 'trickle' && action.direction === 'request' ? await readSlowly(req, action.bytesPerSecond) : await readAll(req);

    if (action?.kind === 'stall') return;
    if (action?.kind === 'gather') await gatherAt(action);
    const emulated = options.referrers && !action ? await referrersAnswer(options.referrers, path) : undefined;
    if (emulated) {
      record.status = emulated.status;
      res.writeHead(emulated.status, { ...emulated.headers, 'content-length': emulated.body.length });
      res.end(method === 'HEAD' ? undefined : emulated.body);
      return;
    }
    if (action?.kind === 'reset' && action.when === 'before-headers') {
      record.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (action?.kind === 'redirect') {
      record.status = action.status ?? 307;
      res.writeHead(record.status, { location: action.location, 'content-length': 0 });
      res.end();
      return;
    }
    if (action?.kind === 'status') {
      record.status = action.status;
      const code = action.status === 429 ? 'TOOMANYREQUESTS' : action.status === 503 ? 'UNAVAILABLE' : 'UNKNOWN';
      const body = JSON.stringify({ errors: [{ code, message: `injected ${action.status}` }] });
      res.writeHead(action.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(action.retryAfter !== undefined ? { 'retry-after': action.retryAfter } : {}),
      });
      res.end(body);
      return;
    }

    let up: { status: number; headers: http.IncomingHttpHeaders; body: Buffer };
    try {
      up = await forward(req, reqBody);
    } catch {
      record.status = 502;
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('fault proxy: upstream failed');
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    if (options.referrers && up.status === 201) Object.assign(headers, subjectHeader(method, path, reqBody));
    let status = up.status;
    let body = up.body;
    let chunked = false;
    switch (action?.kind) {
      case 'tamper':
        body = tamper(body);
        break;
      case 'oversize':
        body = Buffer.alloc(action.mib * 1024 * 1024, 'x');
        chunked = action.chunked === true;
        break;
      case 'replace':
        body = typeof action.body === 'string' ? Buffer.from(action.body) : action.body;
        status = action.status ?? 200;
        if (action.contentType !== undefined) headers['content-type'] = action.contentType;
        Object.assign(headers, action.headers);
        break;
      case 'link':
        headers['link'] = rewriteLink(typeof up.headers['link'] === 'string' ? up.headers['link'] : undefined, action.host, path);
        break;
      case 'digest':
        headers['docker-content-digest'] = action.digest ?? sha256Digest('lie');
        break;
      case 'headers':
        Object.assign(headers, action.headers);
        break;
      default:
        break;
    }
    if (method === 'HEAD') {
      if (up.headers['content-length'] !== undefined) headers['content-length'] = up.headers['content-length'];
    } else if (!chunked) {
      headers['content-length'] = String(body.length);
    }
    record.status = status;
    res.writeHead(status, headers);
    if (action?.kind === 'trickle' && action.direction !== 'request' && method !== 'HEAD') {
      res.flushHeaders();
      writeSlowly(res, body, action.bytesPerSecond, action.afterBytes ?? 0);
      return;
    }
    if (action?.kind === 'reset') {
      record.status = 'reset';
      if (action.when === 'after-headers') {
        res.flushHeaders();
        setTimeout(() => req.socket.destroy(), 20);
      } else {
        res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => req.socket.destroy(), 20));
      }
      return;
    }
    res.end(method === 'HEAD' ? undefined : body);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: unexpected server address');
  const host = `127.0.0.1:${address.port}`;
  let closing: Promise<void> | undefined;

  return {
    host,
    url: `http://${host}`,
    upstream: upstreamUrl.origin,
    requests,
    get connections() {
      return connections;
    },
    addRule(rule) {
      const copy = { ...rule };
      rules.push(copy);
      return copy;
    },
    clearRules() {
      rules.length = 0;
      for (const g of gathering.values()) for (const r of g.release.splice(0)) r();
    },
    requestsTo(pathRe, method) {
      return requests.filter((r) => pathRe.test(r.path) && (method === undefined || r.method === method));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        agent.destroy();
      });
      return closing;
    },
  };
}
