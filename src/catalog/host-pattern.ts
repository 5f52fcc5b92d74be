import { normalizeHost } from '../shared/host.js';

/** A catalog host pattern after DESIGN 4.1 normalisation. */
export interface HostPattern {
  /** `exact`: the host itself; `suffix`: written `*.` + host, matches any depth below it, never the apex */
  kind: 'exact' | 'suffix';
  /** normalised (A-label, lower-case) host, without the `*.` */
  host: string;
}

/**
 * Parses an app's host pattern (DESIGN 4: exact, or `*.` + suffix). Catalog patterns are normalised
 * like record hosts (DESIGN 4.1), so `RestAPI.amap.com.` and `restapi.amap.com` are the same pattern.
 */
export function parseHostPattern(pattern: string): HostPattern | { error: string } {
  const kind = pattern.startsWith('*.') ? 'suffix' : 'exact';
  const rest = kind === 'suffix' ? pattern.slice(2) : pattern;
  if (rest.includes('*')) return { error: "'*' is only allowed as a leading '*.' (a suffix pattern)" };
  const host = normalizeHost(rest);
  // An empty label (`a..b`) survives URL host parsing but can never equal a real SNI or DNS name.
  if (host === null || host.split('.').includes('')) return { error: 'is not a valid host name' };
  return { kind, host };
}
