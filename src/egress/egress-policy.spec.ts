import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EgressPolicy, classifyAddress } from './egress-policy';
import { formatIp, inCidr, parseCidr, parseIp } from './ip-address';

describe('parseIp / formatIp / parseCidr', () => {
  it('parses IPv4 strictly and IPv6 in every spelling', () => {
    assert.equal(formatIp(parseIp('10.1.2.3')!), '10.1.2.3');
    for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '0x7f.0.0.1', '1.2.3.-1', 'localhost', '', ':::', '1::2::3', '12345::', 'g::1']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    assert.equal(formatIp(parseIp('::1')!), '::1');
    assert.equal(formatIp(parseIp('[FE80::1%eth0]')!), 'fe80::1');
    assert.equal(formatIp(parseIp('2001:db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
    assert.equal(formatIp(parseIp('::ffff:7f00:1')!), '127.0.0.1', 'IPv4-mapped in hex is the IPv4 address');
    assert.equal(formatIp(parseIp('::ffff:169.254.169.254')!), '169.254.169.254');
    assert.equal(formatIp(parseIp('1:2:3:4:5:6:7:8')!), '1:2:3:4:5:6:7:8');
  });

  it('parses CIDRs, refuses host bits and bad lengths, and matches', () => {
    const net = parseCidr('10.20.0.0/16')!;
    assert.ok(inCidr(parseIp('10.20.255.1')!, net));
    assert.ok(!inCidr(parseIp('10.21.0.1')!, net));
    assert.ok(inCidr(parseIp('::ffff:10.20.0.9')!, net), 'a mapped address is in the IPv4 range');
    assert.equal(parseCidr('10.20.0.1/16'), undefined);
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('10.0.0.0'), undefined);
    assert.equal(parseCidr('fd12::/200'), undefined);
    assert.ok(inCidr(parseIp('fd12:3456::1')!, parseCidr('fd12:3456::/32')!));
    assert.equal(parseCidr('0.0.0.0/0')!.text, '0.0.0.0/0');
  });
});

describe('classifyAddress', () => {
  const cases: Array<[string, string]> = [
    ['169.254.169.254', 'metadata'],
    ['169.254.0.1', 'link-local'],
    ['169.254.255.255', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['2606:4700::1111', 'public'],
    ['192.0.2.1', 'public'],
    // IPv4 carried in IPv6: judged as the IPv4 address
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.1.1.1', 'private'],
    ['::ffff:0:169.254.169.254', 'metadata'],
    ['::169.254.169.254', 'metadata'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::169.254.169.254', 'metadata'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b:1::10.0.0.1', 'private'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:c0a8:0101::1', 'private'],
    ['2002:0808:0808::1', 'public'],
  ];
  for (const [address, cls] of cases) {
    it(`${address} is ${cls}`, () => assert.equal(classifyAddress(address), cls));
  }

  it('throws on something that is not an address', () => {
    assert.throws(() => classifyAddress('example.com'));
  });
});

describe('EgressPolicy', () => {
  const local = new EgressPolicy({ sharedMode: false, listedLocations: [], allowNetworks: [] });
  const shared = new EgressPolicy({ sharedMode: true, listedLocations: ['registry.internal:5000', '127.0.0.1:5000', 'lan.example', '[::1]:5000'], allowNetworks: ['10.20.0.0/16', 'fd12::/16'] });

  it('never reaches link-local, metadata, unspecified, multicast or broadcast, listed or not, in any mode', () => {
    for (const p of [local, shared]) {
      for (const a of ['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254', 'fe80::1', '0.0.0.0', '::', '224.0.0.1', '255.255.255.255']) {
        const d = p.decide('registry.internal', 5000, a);
        assert.equal(d.allowed, false, a);
        assert.equal(!d.allowed && d.rule, 'never');
      }
    }
    const d = local.decide('169.254.169.254', 80, '169.254.169.254');
    assert.deepEqual(d.allowed ? undefined : d.reason, '169.254.169.254 is a link-local/metadata address, never reached');
    const named = local.decide('metadata.example', 80, '169.254.169.254');
    assert.equal(named.allowed ? undefined : named.reason, 'metadata.example resolves to 169.254.169.254, which is a link-local/metadata address, never reached');
  });

  it('single-user mode reaches loopback and private addresses', () => {
    for (const a of ['127.0.0.1', '::1', '10.0.0.1', '192.168.0.1', '100.64.0.1', 'fd12::1', '8.8.8.8']) assert.equal(local.decide('h', 1, a).allowed, true, a);
  });

  it('shared mode refuses internal addresses unless the host is listed or the address allowed', () => {
    for (const a of ['127.0.0.1', '::1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '100.64.0.1', 'fc00::1', '::ffff:127.0.0.1', '64:ff9b::7f00:1']) {
      const d = shared.decide('other.example', 443, a);
      assert.equal(d.allowed, false, a);
      assert.equal(!d.allowed && d.rule, 'shared-mode');
      assert.match(!d.allowed ? d.reason : '', /SKIFF_REGISTRIES_CONFIG/);
    }
    assert.equal(shared.decide('registry.internal', 5000, '10.9.9.9').allowed, true, 'listed with its port');
    assert.equal(shared.decide('registry.internal', 5001, '10.9.9.9').allowed, false, 'another port is not listed');
    assert.equal(shared.decide('REGISTRY.internal', 5000, '10.9.9.9').allowed, true, 'names compare case-insensitively');
    assert.equal(shared.decide('lan.example', 443, '192.168.1.1').allowed, true, 'listed without a port: any port');
    assert.equal(shared.decide('127.0.0.1', 5000, '127.0.0.1').allowed, true);
    assert.equal(shared.decide('127.0.0.1', 5001, '127.0.0.1').allowed, false);
    assert.equal(shared.decide('::1', 5000, '::1').allowed, true, 'an IPv6 literal matches its bracketed location');
    assert.equal(shared.decide('other.example', 443, '10.20.3.4').allowed, true, 'inside allowNetworks');
    assert.equal(shared.decide('other.example', 443, 'fd12::9').allowed, true);
    assert.equal(shared.decide('other.example', 443, '8.8.8.8').allowed, true, 'public addresses are reached');
  });

  it('refuses an invalid CIDR at construction', () => {
    assert.throws(() => new EgressPolicy({ sharedMode: true, listedLocations: [], allowNetworks: ['10.0.0.1/8'] }), /invalid CIDR/);
  });
});
