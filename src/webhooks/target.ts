import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may go. Always http(s) with a host and no credentials in the URL. Outside dev mode
 * (WEBHOOK_ALLOW_PRIVATE_TARGETS false) a tenant must not make the service call into its own network
 * (SSRF): loopback, private, link-local (cloud metadata), unique-local, CGNAT and unspecified addresses are
 * refused, as a literal address at creation and as the resolved addresses before every attempt.
 */

export type TargetCheck = { ok: true } | { ok: false; reason: string };

const PUBLIC_RANGES = new Set(['unicast']);

/** The URL's shape and, for a literal address or localhost, its range. Pure (no DNS). */
export function checkEndpointUrl(text: string, allowPrivate: boolean): TargetCheck {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'must be an absolute http(s) URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'must be an http(s) URL' };
  if (url.username || url.password) return { ok: false, reason: 'must not carry credentials' };
  if (!url.hostname) return { ok: false, reason: 'must name a host' };
  if (allowPrivate) return { ok: true };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return { ok: false, reason: 'must not target a loopback or private address' };
  if (ipaddr.isValid(host) && !isPublicAddress(host)) return { ok: false, reason: 'must not target a loopback or private address' };
  return { ok: true };
}

export function isPublicAddress(address: string): boolean {
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return PUBLIC_RANGES.has(parsed.range());
}

/** Before an attempt: every address the host resolves to must be public (unless private targets are allowed). */
export async function checkResolvedTarget(text: string, allowPrivate: boolean): Promise<TargetCheck> {
  const shape = checkEndpointUrl(text, allowPrivate);
  if (!shape.ok || allowPrivate) return shape;
  const host = new URL(text).hostname.replace(/^\[|\]$/g, '');
  const addresses = ipaddr.isValid(host) ? [{ address: host }] : await lookup(host, { all: true });
  if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a.address))) return { ok: false, reason: 'the host resolves to a loopback or private address' };
  return { ok: true };
}
