import { type Cidr, type IpBytes, formatIp, inCidr, isIpv4, parseCidr, parseIp } from './ip-address';

/**
 * Where skiff may connect, decided per resolved address at connect time (after DNS), for
 * every outbound call. Pure: the caller resolves names and hands in each candidate address.
 *
 * Rules, in order:
 * 1. Never: unspecified, link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses
 *    (169.254.169.254, fd00:ec2::254), multicast, broadcast and reserved (240.0.0.0/4).
 *    Listing a registry does not change this.
 * 2. In shared mode (API tokens or principals configured): loopback, RFC 1918, CGNAT
 *    (100.64.0.0/10) and unique-local (fc00::/7) addresses only for a host listed (`location`)
 *    in the registries file, or an address inside one of its `egress.allowNetworks`.
 *    In single-user mode they are allowed (a local registry must just work).
 * 3. Everything else (public addresses) is allowed.
 *
 * Addresses that embed an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d,
 * IPv4-translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
 * 6to4 2002::/16) are judged as the IPv4 address too;
 * the stricter verdict wins.
 */

export type AddressClass =
  | 'unspecified'
  | 'metadata'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'unique-local'
  | 'public';

const DESCRIPTIONS: Record<AddressClass, string> = {
  unspecified: 'an unspecified address',
  metadata: 'a link-local/metadata address',
  'link-local': 'a link-local/metadata address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  cgnat: 'a carrier-grade NAT (100.64.0.0/10) address',
  'unique-local': 'a unique-local (fc00::/7) address',
  public: 'a public address',
};

const NEVER: ReadonlySet<AddressClass> = new Set(['unspecified', 'metadata', 'link-local', 'multicast', 'broadcast', 'reserved']);
const INTERNAL: ReadonlySet<AddressClass> = new Set(['loopback', 'private', 'cgnat', 'unique-local']);

const cidr = (t: string): Cidr => parseCidr(t)!;
const V4_RULES: Array<[Cidr, AddressClass]> = [
  [cidr('169.254.169.254/32'), 'metadata'],
  [cidr('255.255.255.255/32'), 'broadcast'],
  [cidr('0.0.0.0/8'), 'unspecified'],
  [cidr('127.0.0.0/8'), 'loopback'],
  [cidr('10.0.0.0/8'), 'private'],
  [cidr('172.16.0.0/12'), 'private'],
  [cidr('192.168.0.0/16'), 'private'],
  [cidr('100.64.0.0/10'), 'cgnat'],
  [cidr('169.254.0.0/16'), 'link-local'],
  [cidr('224.0.0.0/4'), 'multicast'],
  [cidr('240.0.0.0/4'), 'reserved'],
];
const V6_RULES: Array<[Cidr, AddressClass]> = [
  [cidr('::/128'), 'unspecified'],
  [cidr('::1/128'), 'loopback'],
  [cidr('fd00:ec2::254/128'), 'metadata'],
  [cidr('fe80::/10'), 'link-local'],
  [cidr('fc00::/7'), 'unique-local'],
  [cidr('ff00::/8'), 'multicast'],
];
const STRICTNESS: AddressClass[] = ['unspecified', 'metadata', 'link-local', 'multicast', 'broadcast', 'reserved', 'loopback', 'private', 'cgnat', 'unique-local', 'public'];

function v4(a: number, b: number, c: number, d: number): IpBytes {
  return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]);
}

/** The IPv4 addresses an IPv6 address carries (compatible, NAT64, 6to4 forms). */
function embeddedIpv4(ip: IpBytes): IpBytes[] {
  const out: IpBytes[] = [];
  const zeros = (from: number, to: number): boolean => ip.subarray(from, to).every((b) => b === 0);
  // IPv4-compatible ::a.b.c.d (deprecated, but some stacks still route it)
  if (zeros(0, 12) && !zeros(12, 14)) out.push(v4(ip[12]!, ip[13]!, ip[14]!, ip[15]!));
  // NAT64 well-known prefix 64:ff9b::/96 and the local-use 64:ff9b:1::/48
  if (ip[0] === 0x00 && ip[1] === 0x64 && ip[2] === 0xff && ip[3] === 0x9b) {
    if (zeros(4, 12) || (ip[4] === 0 && ip[5] === 1)) out.push(v4(ip[12]!, ip[13]!, ip[14]!, ip[15]!));
  }
  // SIIT IPv4-translated ::ffff:0:a.b.c.d
  if (zeros(0, 8) && ip[8] === 0xff && ip[9] === 0xff && zeros(10, 12)) out.push(v4(ip[12]!, ip[13]!, ip[14]!, ip[15]!));
  // 6to4 2002:AABB:CCDD::/48
  if (ip[0] === 0x20 && ip[1] === 0x02) out.push(v4(ip[2]!, ip[3]!, ip[4]!, ip[5]!));
  return out;
}

function classifyBytes(ip: IpBytes): AddressClass {
  const rules = isIpv4(ip) ? V4_RULES : V6_RULES;
  for (const [range, cls] of rules) if (inCidr(ip, range)) return cls;
  return 'public';
}

/** The class of an address; for an IPv6 address carrying an IPv4 one, the stricter of the two. */
export function classifyAddress(address: string): AddressClass {
  const ip = parseIp(address);
  if (!ip) throw new Error(`not an IP address: ${JSON.stringify(address)}`);
  const classes = [classifyBytes(ip), ...(isIpv4(ip) ? [] : embeddedIpv4(ip).map(classifyBytes))];
  return classes.reduce((a, b) => (STRICTNESS.indexOf(a) <= STRICTNESS.indexOf(b) ? a : b));
}

export function describeAddressClass(cls: AddressClass): string {
  return DESCRIPTIONS[cls];
}

export interface EgressPolicyOptions {
  /** API tokens or principals are configured: internal addresses need listing. */
  sharedMode: boolean;
  /** `host[:port]` locations from the registries file (lower-case). */
  listedLocations: readonly string[];
  /** CIDRs from the registries file's `egress.allowNetworks`. */
  allowNetworks: readonly string[];
}

export type EgressDecision =
  | { allowed: true; addressClass: AddressClass }
  | { allowed: false; addressClass: AddressClass; rule: 'never' | 'shared-mode'; reason: string };

export class EgressPolicy {
  private readonly networks: Cidr[];
  private readonly listed: ReadonlySet<string>;

  constructor(private readonly opts: EgressPolicyOptions) {
    this.networks = opts.allowNetworks.map((t) => {
      const c = parseCidr(t);
      if (!c) throw new Error(`invalid CIDR ${JSON.stringify(t)}`);
      return c;
    });
    this.listed = new Set(opts.listedLocations.map((l) => l.toLowerCase()));
  }

  get sharedMode(): boolean {
    return this.opts.sharedMode;
  }

  /** True when `host` (a name or IP literal) on `port` is listed: `host:port`, or `host` alone for any port. */
  isListed(host: string, port: number | undefined): boolean {
    const h = host.toLowerCase();
    const bracketed = h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
    return this.listed.has(bracketed) || (port !== undefined && this.listed.has(`${bracketed}:${port}`));
  }

  /**
   * May skiff connect to `address` for the host name `host` (as the caller named it) on
   * `port`? Every address a name resolves to must be checked, and the connection must go to
   * an address that was.
   */
  decide(host: string, port: number | undefined, address: string): EgressDecision {
    const addressClass = classifyAddress(address);
    const shown = formatIp(parseIp(address)!);
    const named = parseIp(host) ? shown : `${host} resolves to ${shown}, which`;
    if (NEVER.has(addressClass)) {
      return { allowed: false, addressClass, rule: 'never', reason: `${named} is ${DESCRIPTIONS[addressClass]}, never reached` };
    }
    if (INTERNAL.has(addressClass) && this.opts.sharedMode && !this.isListed(host, port)) {
      const ip = parseIp(address)!;
      if (!this.networks.some((n) => inCidr(ip, n))) {
        return {
          allowed: false,
          addressClass,
          rule: 'shared-mode',
          reason:
            `${named} is ${DESCRIPTIONS[addressClass]}, which this shared service reaches only for a registry listed in ` +
            'SKIFF_REGISTRIES_CONFIG or an address inside its egress.allowNetworks',
        };
      }
    }
    return { allowed: true, addressClass };
  }
}
