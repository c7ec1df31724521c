import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { ClientAddresses } from './client-address';

const req = (peer: string, xff?: string | string[]) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('ClientAddresses', () => {
  it('without trusted proxies the socket peer is the client, whatever X-Forwarded-For says', () => {
    const a = new ClientAddresses([]);
    assert.equal(a.of(req('203.0.113.9', '198.51.100.1')), '203.0.113.9');
  });

  it('behind trusted proxies: the rightmost hop that is not a trusted proxy; hops a client wrote are not believed', () => {
    const a = new ClientAddresses(['10.0.0.0/8', 'fd00::/8']);
    assert.equal(a.of(req('10.0.0.5', '198.51.100.7')), '198.51.100.7');
    // the client prepended a forged hop: the proxy appended the real one on the right
    assert.equal(a.of(req('10.0.0.5', '1.2.3.4, 198.51.100.7')), '198.51.100.7');
    // two proxies in a row
    assert.equal(a.of(req('::ffff:10.0.0.5', '198.51.100.7, 10.1.1.1')), '198.51.100.7');
    assert.equal(a.of(req('fd00::1', ['198.51.100.7', 'fd00::2'])), '198.51.100.7');
    // a malformed hop ends the walk at the last trusted address
    assert.equal(a.of(req('10.0.0.5', '198.51.100.7, garbage')), '10.0.0.5');
    // no header: the proxy itself
    assert.equal(a.of(req('10.0.0.5')), '10.0.0.5');
    // a peer that is not a trusted proxy: its header is ignored
    assert.equal(a.of(req('203.0.113.9', '198.51.100.7')), '203.0.113.9');
  });

  it('believes at most 16 trusted hops, and a 16 KiB header costs one split', () => {
    const a = new ClientAddresses(['10.0.0.0/8']);
    const many = [...Array.from({ length: 30 }, () => '10.9.9.9')].join(', ');
    assert.equal(a.of(req('10.0.0.5', `198.51.100.7, ${many}`)), '10.9.9.9');
    const huge = Array.from({ length: 1500 }, () => '10.9.9.9').join(',');
    const t0 = performance.now();
    a.of(req('10.0.0.5', huge));
    assert.ok(performance.now() - t0 < 1000);
  });
});
