/**
 * IP addresses as 16 bytes (IPv4 as IPv4-mapped IPv6), parsed strictly, and CIDR ranges.
 * Pure code: no DNS, no sockets.
 */

export type IpBytes = Uint8Array;

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseIpv6(text: string): IpBytes | undefined {
  if (text.length > 64) return undefined;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const items = s.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4(item);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/** An IPv4 or IPv6 address (brackets and a zone allowed) as 16 bytes; undefined when it is not one. */
export function parseIp(text: string): IpBytes | undefined {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIpv4(t);
  if (v4) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]);
  return t.includes(':') ? parseIpv6(t) : undefined;
}

/** True for an IPv4 address (held IPv4-mapped). */
export function isIpv4(ip: IpBytes): boolean {
  return ip.subarray(0, 12).every((b, i) => b === (i >= 10 ? 0xff : 0));
}

/** The address as text: dotted quad for IPv4, compressed lower-case IPv6 otherwise. */
export function formatIp(ip: IpBytes): string {
  if (isIpv4(ip)) return Array.from(ip.subarray(12)).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip[i]! << 8) | ip[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface Cidr {
  /** Network address, 16 bytes. */
  network: IpBytes;
  /** Prefix length over the 16 bytes (an IPv4 /16 is 96 + 16). */
  bits: number;
  /** As written (normalised), for messages. */
  text: string;
}

/** Parses `a.b.c.d/n` or `x::y/n`; undefined when malformed or host bits are set. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return undefined;
  const v4 = isIpv4(ip) && !text.slice(0, slash).includes(':');
  const len = Number(lenText);
  if (len > (v4 ? 32 : 128)) return undefined;
  const bits = v4 ? 96 + len : len;
  for (let i = bits; i < 128; i++) if ((ip[i >> 3]! >> (7 - (i & 7))) & 1) return undefined;
  return { network: ip, bits, text: `${formatIp(ip)}/${len}` };
}

export function inCidr(ip: IpBytes, cidr: Cidr): boolean {
  const full = cidr.bits >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== cidr.network[i]) return false;
  const rest = cidr.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[full]! & mask) === (cidr.network[full]! & mask);
}
