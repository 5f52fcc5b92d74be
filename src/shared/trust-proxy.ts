import { parseCidr, parseIp } from './ip.js';

/** proxy-addr's named ranges, which fastify's `trustProxy` understands. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * `TRUST_PROXY`: the reverse proxies whose `X-Forwarded-For`, `-Proto` and `-Host` the HTTP app believes,
 * as a comma list of addresses, networks (`10.0.0.0/8`) and proxy-addr's named ranges (`loopback`,
 * `linklocal`, `uniquelocal`), handed to fastify's `trustProxy`. The client is then the rightmost
 * address of the chain that is not a trusted proxy. Deliberately not accepted: `true` / `*` / a `/0`
 * network (the client would pick its own address: leftmost X-Forwarded-For) and a hop count (fastify 5
 * ignores it, as it cannot tell the proxy from a client that reaches the service directly).
 *
 * Returns the canonical entries, or the reason the value is refused.
 */
export function parseTrustProxy(text: string): { ok: true; value: string[] } | { ok: false; message: string } {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const advice = 'list the proxy addresses or networks, e.g. 127.0.0.1,10.0.0.0/8';
  const value: string[] = [];
  for (const entry of entries) {
    if (NAMED_RANGES.has(entry)) {
      value.push(entry);
      continue;
    }
    if (/^(true|\*|\d+)$/.test(entry)) return { ok: false, message: `"${entry}" would trust any client or none; ${advice}` };
    if (entry.includes('/')) {
      const cidr = parseCidr(entry);
      if (cidr === 'HOST_BITS') return { ok: false, message: `"${entry}" has host bits set beyond the prefix` };
      if (cidr === 'INVALID') return { ok: false, message: `"${entry}" is not an address or network; ${advice}` };
      if (cidr.prefixLength === 0) return { ok: false, message: `"${entry}" would trust every address; ${advice}` };
      value.push(cidr.canonical);
      continue;
    }
    const ip = parseIp(entry);
    if (!ip) return { ok: false, message: `"${entry}" is not an address or network; ${advice}` };
    value.push(ip.canonical);
  }
  return { ok: true, value };
}
