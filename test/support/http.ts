/**
 * Minimal HTTP(S) client on node builtins, for talking to test registries and token
 * servers. No redirects are followed and no status is treated as an error: callers
 * get the status, headers and full body.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Trusted CA (PEM) for https URLs; the system roots are used when absent. */
  ca?: string | Buffer;
  /** TLS client certificate and key (PEM), for registries that require one. */
  clientCert?: { cert: string | Buffer; key: string | Buffer };
  /** Keep-alive agent to reuse connections; must match the URL's protocol. */
  agent?: http.Agent;
  /** Whole-request timeout; default 30 s. */
  timeoutMs?: number;
}

/** Performs one request; rejects only on network/timeout errors. */
export function httpRequest(url: string | URL, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const isHttps = target.protocol === 'https:';
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers: Record<string, string> = { ...opts.headers };
  if (body !== undefined) headers['content-length'] = String(body.length);
  const timeoutMs = opts.timeoutMs ?? 30_000;

  return new Promise((resolve, reject) => {
    const requestOptions: https.RequestOptions = {
      method: opts.method ?? 'GET',
      headers,
      agent: opts.agent,
      timeout: timeoutMs,
    };
    if (isHttps && opts.ca !== undefined && opts.agent === undefined) requestOptions.ca = opts.ca;
    if (isHttps && opts.clientCert !== undefined && opts.agent === undefined) Object.assign(requestOptions, opts.clientCert);
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    };
    const req = isHttps ? https.request(target, requestOptions, onResponse) : http.request(target, requestOptions, onResponse);
    req.on('timeout', () => req.destroy(new Error(`HTTP ${requestOptions.method} ${target.href} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A keep-alive agent for `url`'s protocol (trusting `ca` and presenting `clientCert` for https). */
export function keepAliveAgent(url: string, ca?: string | Buffer, clientCert?: { cert: string | Buffer; key: string | Buffer }): http.Agent {
  return url.startsWith('https:')
    ? new https.Agent({ keepAlive: true, maxSockets: 16, ca, ...clientCert })
    : new http.Agent({ keepAlive: true, maxSockets: 16 });
}

/** First value of a response header (lower-case name). */
export function header(res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
