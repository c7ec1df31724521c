import type { IncomingMessage } from 'node:http';
import { type Cidr, inCidr, parseCidr, parseIp } from '../egress/ip-address';

/** Hops of `X-Forwarded-For` looked at, from the right (more proxies in a row than this are not believed). */
const MAX_HOPS = 16;

/**
 * The address of the client a request came from, as far as this service can trust it: the
 * socket's peer, unless that peer is one of the operator's reverse proxies
 * (SKIFF_TRUSTED_PROXIES); then `X-Forwarded-For` is read from the right — the hops the
 * trusted proxies appended — and the first address that is not a trusted proxy is the client.
 * Hops a client wrote itself (further left) are never believed: a client cannot choose the
 * address it is counted under. A malformed hop ends the walk at the last trusted address.
 */
export class ClientAddresses {
  private readonly proxies: Cidr[];

  constructor(trustedProxies: readonly string[]) {
    this.proxies = trustedProxies.map((t) => {
      const cidr = parseCidr(t);
      if (!cidr) throw new Error(`not a CIDR: ${t}`);
      return cidr;
    });
  }

  private trusted(address: string): boolean {
    const ip = parseIp(address);
    return ip !== undefined && this.proxies.some((c) => inCidr(ip, c));
  }

  of(req: IncomingMessage): string | undefined {
    const peer = req.socket.remoteAddress;
    if (peer === undefined || this.proxies.length === 0 || !this.trusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
    // Node caps the request's headers (16 KiB), so the split is bounded.
    const hops = raw.split(',').map((h) => h.trim()).filter((h) => h !== '');
    let client = peer;
    for (let i = hops.length - 1; i >= 0 && hops.length - i <= MAX_HOPS; i--) {
      const hop = hops[i]!;
      if (parseIp(hop) === undefined) break;
      client = hop;
      if (!this.trusted(hop)) break;
    }
    return client;
  }
}
