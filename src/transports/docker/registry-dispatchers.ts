import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import type { RegistrySettings } from '../../config/app-config';
import type { EgressPolicy } from '../../egress/egress-policy';
import { ExpiringLru } from './content-cache';
import { type LookupAll, egressConnector } from './egress-connector';

/**
 * Keep-alive connection pools (undici Agents), one per registry host and TLS choice, built
 * with that registry's TLS settings (extra CA, client certificate) from the registries file.
 * Every connection goes through the egress connector. Pools are per host, so they are bounded:
 * one unused for `idleMs`, or the least recently used beyond `max`, is closed (gracefully:
 * requests already on it finish; a request that picks a closing pool fails retryably and gets a
 * new one).
 */
export interface RegistryDispatchersOptions {
  settingsFor: (host: string) => RegistrySettings | undefined;
  policy: EgressPolicy;
  connectTimeoutMs: number;
  /** undici's headersTimeout: from the request (and its body) sent to the answer's headers. */
  firstByteTimeoutMs: number;
  lookup?: LookupAll;
  max?: number;
  idleMs?: number;
}

export class RegistryDispatchers {
  private readonly agents: ExpiringLru<string, Agent>;

  constructor(private readonly opts: RegistryDispatchersOptions) {
    this.agents = new ExpiringLru<string, Agent>({
      max: opts.max ?? 256,
      idleMs: opts.idleMs ?? 5 * 60_000,
      onEvict: (_k, agent) => {
        agent.close().catch(() => undefined);
      },
    });
  }

  get size(): number {
    return this.agents.size;
  }

  get(host: string, verify: boolean): Agent {
    const key = `${host}|${verify}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const s = this.opts.settingsFor(host);
      const ca = s?.caFile ? [...rootCertificates, readFileSync(s.caFile, 'utf8')] : undefined;
      agent = new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 120_000,
        connections: 16,
        headersTimeout: this.opts.firstByteTimeoutMs,
        // Bodies are watched by the throughput floor (throughput-watch.ts), which knows
        // backpressure from a stalled registry; undici's between-chunks timer does not.
        bodyTimeout: 0,
        connect: egressConnector({
          policy: this.opts.policy,
          timeoutMs: this.opts.connectTimeoutMs,
          lookup: this.opts.lookup,
          tls: {
            rejectUnauthorized: verify,
            ...(ca ? { ca } : {}),
            ...(s?.clientCertFile && s.clientKeyFile ? { cert: readFileSync(s.clientCertFile), key: readFileSync(s.clientKeyFile) } : {}),
          },
        }),
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    const agents = this.agents.values();
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }
}
