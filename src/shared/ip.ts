import ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

/** Shared between callers (parseIp remembers its answers): never modified. */
export interface ParsedIp {
  readonly family: IpFamily;
  /** network-order bytes: 4 for IPv4, 16 for IPv6 */
  readonly bytes: readonly number[];
  /** canonical text: dotted quad, or RFC 5952 for IPv6 */
  readonly canonical: string;
}

/**
 * Parses an IPv4 or IPv6 address strictly (no zone ids, no shorthand IPv4 forms such as `10.1`).
 * `::ffff:a.b.c.d` is returned as the IPv4 address (DESIGN 3.1: matched as IPv4).
 */
export function parseIp(text: string): ParsedIp | null {
  // Usage repeats the same few thousand addresses: remember the answers (bounded, cleared when full).
  let parsed = recent.get(text);
  if (parsed === undefined) {
    if (recent.size >= RECENT_MAX) recent.clear();
    parsed = parseIpUncached(text);
    recent.set(text, parsed);
  }
  return parsed;
}

const RECENT_MAX = 10_000;
const recent = new Map<string, ParsedIp | null>();

function parseIpUncached(text: string): ParsedIp | null {
  if (text.includes('%')) return null;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  // The colon test first: ipaddr.js's IPv4 check throws and catches on IPv6 text, which costs ~8 µs.
  if (!text.includes(':') && ipaddr.IPv4.isValidFourPartDecimal(text)) addr = ipaddr.IPv4.parse(text);
  else if (ipaddr.IPv6.isValid(text)) addr = ipaddr.IPv6.parse(text);
  else return null;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  if (addr.kind() === 'ipv4') {
    return { family: 4, bytes: addr.toByteArray(), canonical: addr.toString() };
  }
  return { family: 6, bytes: addr.toByteArray(), canonical: (addr as ipaddr.IPv6).toRFC5952String() };
}

export interface ParsedCidr {
  family: IpFamily;
  bytes: number[];
  prefixLength: number;
  /** `network/prefix`, network in canonical text */
  canonical: string;
}

export type CidrError = 'INVALID' | 'HOST_BITS';

/** Parses `network/prefix`; host bits must be zero (DESIGN 4). */
export function parseCidr(text: string): ParsedCidr | CidrError {
  const slash = text.indexOf('/');
  if (slash === -1) return 'INVALID';
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return 'INVALID';
  let prefixLength = Number(prefixText);
  // an IPv4-mapped network is taken as its IPv4 network
  if (ip.family === 4 && text.slice(0, slash).includes(':')) prefixLength -= 96;
  const maxBits = ip.family === 4 ? 32 : 128;
  if (prefixLength < 0 || prefixLength > maxBits) return 'INVALID';
  for (let bit = prefixLength; bit < maxBits; bit++) {
    if ((ip.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return 'HOST_BITS';
  }
  return { family: ip.family, bytes: [...ip.bytes], prefixLength, canonical: `${ip.canonical}/${prefixLength}` };
}
