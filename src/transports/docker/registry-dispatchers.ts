import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import type { RegistrySettings } from '../../config/app-config';

/**
 * Keep-alive connection pools (undici Agents), one per registry host and TLS choice, built
 * with that registry's TLS settings (extra CA, client certificate) from the registries file.
 */
export interface RegistryDispatchersOptions {
  settingsFor: (host: string) => RegistrySettings | undefined;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export class RegistryDispatchers {
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly opts: RegistryDispatchersOptions) {}

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
        headersTimeout: this.opts.requestTimeoutMs,
        bodyTimeout: this.opts.requestTimeoutMs,
        connect: {
          timeout: this.opts.connectTimeoutMs,
          rejectUnauthorized: verify,
          ...(ca ? { ca } : {}),
          ...(s?.clientCertFile && s.clientKeyFile ? { cert: readFileSync(s.clientCertFile), key: readFileSync(s.clientKeyFile) } : {}),
        },
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }
}
