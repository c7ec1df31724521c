import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import type { EgressPolicy } from '../../egress/egress-policy';
import { DomainError } from '../../errors/domain-error';

/**
 * The connect function of every registry dispatcher: it resolves the host name itself (all
 * addresses), asks the egress policy about each one, and connects to an address it checked
 * (pinned: DNS is not asked again between the check and the connect, so rebinding cannot
 * slip a forbidden address in), trying the next checked address when one refuses. TLS keeps the host name as servername, so certificates are
 * verified against the name, not the address. A refusal is raised before any socket is
 * opened: it says nothing about whether the port was open.
 */

export type LookupAll = (host: string) => Promise<Array<{ address: string; family: number }>>;

export interface EgressConnectorOptions {
  policy: EgressPolicy;
  /** TLS and socket options for undici's own connector (CA, client certificate, rejectUnauthorized). */
  tls: buildConnector.BuildOptions;
  /** DNS, TCP and TLS together, per connection. */
  timeoutMs: number;
  /** Name resolution; the system resolver (getaddrinfo, all addresses) by default. */
  lookup?: LookupAll;
}

const systemLookup: LookupAll = (host) => dnsLookup(host, { all: true, verbatim: true });

function connectTimeout(host: string, port: string | number, ms: number): Error {
  return Object.assign(new Error(`connect timeout (${host}:${port}, ${ms} ms)`), { code: 'UND_ERR_CONNECT_TIMEOUT' });
}

export function egressConnector(opts: EgressConnectorOptions): buildConnector.connector {
  const lookup = opts.lookup ?? systemLookup;
  // undici's connector bounds TCP+TLS by itself; the timer below bounds DNS and all of it together.
  const connect = buildConnector({ ...opts.tls, timeout: opts.timeoutMs });
  return (options, callback) => {
    const host = options.hostname;
    const defaultPort = options.protocol === 'https:' ? 443 : 80;
    const port = options.port ? Number(options.port) : defaultPort;
    let done = false;
    const finish: buildConnector.Callback = (...args) => {
      if (done) {
        if (args[1]) args[1].destroy();
        return;
      }
      done = true;
      clearTimeout(timer);
      callback(...args);
    };
    const timer = setTimeout(() => finish(connectTimeout(host, port, opts.timeoutMs), null), opts.timeoutMs);
    const resolved: Promise<Array<{ address: string; family: number }>> = isIP(host) ? Promise.resolve([{ address: host, family: isIP(host) }]) : lookup(host);
    resolved.then(
      (addresses) => {
        if (done) return;
        if (addresses.length === 0) {
          finish(Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }), null);
          return;
        }
        for (const { address } of addresses) {
          const decision = opts.policy.decide(host, port, address);
          if (!decision.allowed) {
            finish(new DomainError('EGRESS_REFUSED', `refusing to connect to ${host}:${port}: ${decision.reason}`, { registry: `${host}:${port}`, retryable: false }), null);
            return;
          }
        }
        // The checked addresses in resolver order, the next one tried when one refuses (a
        // `localhost` that resolves to ::1 first while the registry listens on 127.0.0.1).
        const attempt = (i: number): void => {
          connect({ ...options, hostname: addresses[i]!.address, servername: isIP(host) ? undefined : (options.servername ?? host) }, (err, socket) => {
            if (err && !done && i + 1 < addresses.length && (err as { code?: string }).code !== 'UND_ERR_CONNECT_TIMEOUT') attempt(i + 1);
            else if (err) finish(err, null);
            else finish(null, socket!);
          });
        };
        attempt(0);
      },
      (e: unknown) => finish(e instanceof Error ? e : new Error(String(e)), null),
    );
  };
}
