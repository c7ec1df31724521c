import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DomainError } from '../../errors/domain-error';
import { RegistryExtensions } from './registry-extensions';
import type { RegistryHttp } from './registry-http';
import { type LoopbackServer, listenLoopback, testRegistryHttp } from './testing/loopback-registry';

const SUBJECT = `sha256:${'a'.repeat(64)}`;
const referrer = (c: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${c.repeat(64)}`, size: 10, artifactType: 'application/x-test' });

let server: LoopbackServer;
let host: string;
/** The Link header of the first referrers page, per test. */
let firstLink = '';

before(async () => {
  server = await listenLoopback((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return res.writeHead(200).end('{}');
    const index = (m: unknown[]) => JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: m });
    if (url === `/v2/r/referrers/${SUBJECT}`) return res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', link: firstLink }).end(index([referrer('b')]));
    if (url === `/v2/r/referrers/${SUBJECT}?page=2`) return res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(index([referrer('c')]));
    if (url.startsWith('/v2/_catalog')) return res.writeHead(200, { 'content-type': 'application/json', link: firstLink }).end(JSON.stringify({ repositories: ['r'] }));
    res.writeHead(404).end();
  });
  host = server.host;
});

after(() => server.close());

function extensions(): { ext: RegistryExtensions; http: RegistryHttp } {
  const http = testRegistryHttp({ insecure: [host] });
  return { ext: new RegistryExtensions(http, host, { tlsVerify: false }), http };
}

describe('RegistryExtensions pagination reads Link with link-header.ts', () => {
  it('follows the rel="next" link, not a rel="next-archive" one before it', async () => {
    firstLink = `<http://elsewhere.example/x>; rel="next-archive", </v2/r/referrers/${SUBJECT}?page=2>; rel="next"`;
    const { ext, http } = extensions();
    try {
      const listing = await ext.listReferrers('r', SUBJECT);
      assert.ok(listing.supported);
      assert.deepEqual(
        listing.referrers.map((r) => r.digest),
        [referrer('b').digest, referrer('c').digest],
      );
    } finally {
      await http.close();
    }
  });

  it('refuses a next page on another host', async () => {
    firstLink = `<http://elsewhere.example/v2/r/referrers/${SUBJECT}?page=2>; rel="next"`;
    const { ext, http } = extensions();
    try {
      await assert.rejects(ext.listReferrers('r', SUBJECT), (e: unknown) => e instanceof DomainError && e.code === 'UPSTREAM_PROTOCOL_ERROR' && /another host/.test(e.message));
    } finally {
      await http.close();
    }
  });

  it('catalog: "more" only for a rel="next" link', async () => {
    const { ext, http } = extensions();
    try {
      firstLink = '</v2/_catalog?last=r>; rel="next-archive"';
      assert.equal((await ext.catalog()).more, false);
      firstLink = '</v2/_catalog?last=r>; rel="prev next"';
      assert.equal((await ext.catalog()).more, true);
    } finally {
      await http.close();
    }
  });
});
