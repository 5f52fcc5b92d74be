import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * Host normalisation of DESIGN 4.1, shared by catalog patterns and usage records:
 * trim; drop a `:port` suffix, brackets and one trailing dot; convert to A-labels per
 * UTS #46 (WHATWG URL host parsing, `url.domainToASCII`); lower-case.
 * Returns null when the host cannot be converted: such a host matches no host rule.
 */
export function normalizeHost(raw: string): string | null {
  // The common case, and what normalisation returns: lower-case LDH labels, none an A-label, the last not a
  // number (which WHATWG host parsing reads as IPv4). Unchanged by every step below; property-tested.
  if (PLAIN_HOST.test(raw) && !raw.includes('xn--') && !NUMERIC_LAST_LABEL.test(raw)) return raw;
  let host = raw.trim();
  if (host.startsWith('[')) {
    // `[2001:db8::1]:443` → `2001:db8::1`
    const close = host.indexOf(']');
    host = close === -1 ? host.slice(1) : host.slice(1, close);
  } else {
    const firstColon = host.indexOf(':');
    // exactly one colon is a port suffix; more than one is a bare IPv6 literal
    if (firstColon !== -1 && host.indexOf(':', firstColon + 1) === -1) host = host.slice(0, firstColon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return null;
  const ascii = domainToASCII(host);
  if (ascii === '' || ascii.split('.').some(isInvalidALabel)) return null;
  return ascii.toLowerCase();
}

const PLAIN_HOST = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/;

/**
 * An `xn--` label that is not valid Punycode or that UTS #46 refuses once decoded (`xn--a`, `xn--`, `xn--zz-`,
 * which decodes to plain ASCII). Node 20's domainToASCII refuses most of these; Node 24's passes them through
 * unchanged, so they are checked here, the same on every Node: a valid A-label decodes to a label with a
 * non-ASCII character.
 */
function isInvalidALabel(label: string): boolean {
  if (!/^xn--/i.test(label)) return false;
  return ![...domainToUnicode(label)].some((char) => (char.codePointAt(0) ?? 0) > 0x7f);
}
