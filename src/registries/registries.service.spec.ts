import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullAccessPrincipal, type Principal } from '../auth/principal';
import { DomainError } from '../errors/domain-error';
import { EgressPolicy } from '../egress/egress-policy';
import { RegistryHttp } from '../transports/docker/registry-http';
import { RegistriesService } from './registries.service';

const http = new RegistryHttp({
  registries: [],
  retryTimes: 0,
  limits: { connectTimeoutMs: 1000, firstByteTimeoutMs: 1000, minBytesPerSecond: 1, throughputWindowSeconds: 30, callTimeoutMs: 1000 },
  userAgent: 'test',
  egress: new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] }),
});

describe('RegistriesService', () => {
  it('needs images:read', () => {
    const svc = new RegistriesService(http);
    const writer: Principal = { name: 'writer', scopes: new Set(['images:write']) };
    assert.throws(() => svc.status(writer, 'docker.io'), (e: unknown) => e instanceof DomainError && e.code === 'FORBIDDEN' && /images:read/.test(e.message));
    assert.deepEqual(svc.status(fullAccessPrincipal('local'), 'docker.io'), { registry: 'docker.io' });
  });

  it("the last error's detail (another caller's repository) only for a principal whose sources cover the whole registry", () => {
    const svc = new RegistriesService(http);
    (http as unknown as { shared: { states: { onError(h: string, e: unknown): void } } }).shared.states.onError(
      'secret.example:5000',
      new DomainError('UPSTREAM_UNAVAILABLE', 'reading manifest v1 in secret.example:5000/team-b/secret-project: refused'),
    );
    const teamA: Principal = { name: 'a', scopes: new Set(['images:read']), sources: ['docker://secret.example:5000/team-a/**'] };
    const all: Principal = { name: 'all', scopes: new Set(['images:read']), sources: ['docker://secret.example:5000/**'] };
    const restricted = svc.status(teamA, 'secret.example:5000').lastError;
    assert.equal(restricted?.code, 'UPSTREAM_UNAVAILABLE');
    assert.doesNotMatch(restricted?.detail ?? '', /team-b/);
    assert.match(svc.status(all, 'secret.example:5000').lastError?.detail ?? '', /team-b\/secret-project/);
    assert.match(svc.status(fullAccessPrincipal('local'), 'secret.example:5000').lastError?.detail ?? '', /team-b\/secret-project/);
  });

  it('refuses what is not host[:port]', () => {
    const svc = new RegistriesService(http);
    for (const bad of ['a/b', 'http://x', 'UPPER CASE', '', 'x'.repeat(300)]) {
      assert.throws(() => svc.status(fullAccessPrincipal('local'), bad), (e: unknown) => e instanceof DomainError && e.code === 'INVALID_ARGUMENT', bad);
    }
  });
});
