import ipaddr from 'ipaddr.js';
import { loadCatalog, type Catalog } from '../../src/catalog/index.js';
import { compileClassifier, type Classifier } from '../../src/classify/index.js';
import { parseCidr } from '../../src/shared/ip.js';
import { isBillableAutomaker } from '../../src/vehicles/service.js';
import type { Iface, Proto } from './usage-message.js';

/**
 * Traffic endpoints derived from the catalog (DESIGN 4): for every app, concrete hosts (`*.amap.com` →
 * `tile.amap.com`), an address inside each CIDR, each package, on an allowed port. Every endpoint is run
 * through the service's own classifier and kept only when it yields its app, so the simulator knows, for
 * every record it sends, the app the ledger must show (exactly-once checks per app, not only per vehicle).
 */

/** How an app's traffic behaves over a trip; picked from the catalog's own hints (see `behaviourOf`). */
export type Behaviour = 'telemetry' | 'control' | 'ota' | 'navigation' | 'stream' | 'burst' | 'hotspot' | 'general';

export interface Endpoint {
  host?: string;
  ip?: string;
  port: number;
  proto: Proto;
  iface: Iface;
  pkg?: string;
}

export interface AppTraffic {
  app: string;
  behaviour: Behaviour;
  /** each classifies to `app` under the catalog */
  endpoints: readonly Endpoint[];
}

export interface CatalogTraffic {
  /** catalog apps with at least one endpoint, in catalog order, plus `wifi-hotspot` and `general` */
  apps: readonly AppTraffic[];
  /** automakers a vehicle may be registered with (DESIGN 5: billable automakers) */
  automakers: readonly string[];
  /** models named by sponsorships, plus one no sponsorship names (so some vehicles fall outside model caps) */
  models: readonly string[];
  catalogTimezone: string;
}

/** Subdomain labels used to turn a `*.` suffix into hosts a T-Box would really resolve. */
const SUFFIX_LABELS: Record<Behaviour, readonly string[]> = {
  telemetry: ['gw', 'log'],
  control: ['cmd', 'rc'],
  ota: ['dl', 'cdn'],
  navigation: ['tile', 'restapi'],
  stream: ['stream', 'api'],
  burst: ['api', 'cdn'],
  hotspot: [],
  general: [],
};

/** What phones on the in-car hotspot reach (DESIGN 4.1 step 1: iface hotspot wins whatever the host). */
const HOTSPOT_HOSTS = ['www.baidu.com', 'weixin.qq.com', 'v.douyin.com', 'api.bilibili.com', 'tile.amap.com', 'www.taobao.com'];
/** Hosts no demo app claims: billed as `general` (DESIGN 4.1 step 6). */
const UNKNOWN_HOSTS = ['api.weather-example.cn', 'push.news-example.com', 'img.shop-example.com', 'ntp.example.org', 'cdn.ads-example.net'];

/** Loads the catalog folder and derives its traffic (throws the catalog's own error when invalid). */
export async function loadCatalogTraffic(catalogDir: string): Promise<CatalogTraffic> {
  const loaded = await loadCatalog(catalogDir);
  return deriveCatalogTraffic(loaded.catalog);
}

export function deriveCatalogTraffic(catalog: Catalog): CatalogTraffic {
  const classifier = compileClassifier(catalog.apps);
  const apps: AppTraffic[] = [];
  for (const app of catalog.apps) {
    const behaviour = behaviourOf(catalog, app.id);
    const port = app.ports?.[0] ?? 443;
    const candidates: Endpoint[] = [];
    const hosts = app.hosts.flatMap((pattern) => (pattern.startsWith('*.') ? SUFFIX_LABELS[behaviour].map((label) => `${label}.${pattern.slice(2)}`) : [pattern]));
    const pkg = app.packages[0];
    for (const host of hosts) {
      candidates.push({ host, ip: benchmarkAddress(host), port, proto: 'tcp', iface: 'tbox' });
      // A real flow often carries the package that opened it too; the host decides (DESIGN 4.1 step 2/3).
      if (pkg !== undefined) candidates.push({ host, ip: benchmarkAddress(`${host}/${pkg}`), port, proto: 'tcp', iface: 'tbox', pkg });
    }
    for (const cidr of app.cidrs) {
      const ip = addressInside(cidr);
      if (ip !== null) candidates.push({ ip, port, proto: 'tcp', iface: 'tbox' });
    }
    for (const name of app.packages) candidates.push({ pkg: name, port, proto: 'tcp', iface: 'tbox' });
    // Other allowed ports (e.g. MQTT 8883 for remote control), on the first host.
    for (const other of app.ports?.slice(1) ?? []) if (hosts[0] !== undefined) candidates.push({ host: hosts[0], port: other, proto: 'tcp', iface: 'tbox' });
    const endpoints = candidates.filter((e) => classifyEndpoint(classifier, e) === app.id);
    if (endpoints.length > 0) apps.push({ app: app.id, behaviour, endpoints });
  }
  const hotspot = HOTSPOT_HOSTS.map((host): Endpoint => ({ host, ip: benchmarkAddress(host), port: 443, proto: 'tcp', iface: 'hotspot' }));
  apps.push({ app: 'wifi-hotspot', behaviour: 'hotspot', endpoints: hotspot.filter((e) => classifyEndpoint(classifier, e) === 'wifi-hotspot') });
  const general: Endpoint[] = [
    ...UNKNOWN_HOSTS.map((host): Endpoint => (host.startsWith('ntp.') ? { host, ip: benchmarkAddress(host), port: 123, proto: 'udp', iface: 'tbox' } : { host, ip: benchmarkAddress(host), port: 443, proto: 'tcp', iface: 'tbox' })),
    { ip: '198.19.7.9', port: 8080, proto: 'tcp', iface: 'tbox' },
  ];
  const generalKept = general.filter((e) => classifyEndpoint(classifier, e) === 'general');
  if (generalKept.length > 0) apps.push({ app: 'general', behaviour: 'general', endpoints: generalKept });

  const automakers = catalog.sponsors.filter((s) => isBillableAutomaker(catalog, s.id)).map((s) => s.id);
  if (automakers.length === 0) throw new Error('the catalog has no billable automaker to register vehicles with');
  const named = [...new Set(catalog.sponsorships.flatMap((s) => s.vehicles.models.filter((m) => m !== '*')))].sort();
  const unnamed = ['S1', 'S2', 'S3'].find((m) => !named.includes(m)) ?? 'SIM-MODEL';
  return { apps, automakers, models: [...named, unnamed], catalogTimezone: catalog.billing.timezone };
}

/**
 * The traffic kind of an app, from the catalog's hints rather than from its id alone: who sponsors it
 * (map vendor → navigation bursts, content provider → streams), whether it may be blocked (telemetry and
 * remote control may not), and the id for OTA, which shares its sponsor and blockability with other apps.
 */
export function behaviourOf(catalog: Catalog, appId: string): Behaviour {
  const app = catalog.apps.find((a) => a.id === appId);
  if (!app) return appId === 'wifi-hotspot' ? 'hotspot' : 'general';
  const kinds = new Set(
    catalog.sponsorships.filter((s) => s.app === appId).map((s) => catalog.sponsors.find((sp) => sp.id === s.sponsor)?.kind),
  );
  if (/(^|-)ota($|-)|firmware|update/.test(appId)) return 'ota';
  if (app.blockable === false) return /control|rc|command/.test(appId) ? 'control' : 'telemetry';
  if (kinds.has('map_vendor')) return 'navigation';
  if (kinds.has('service_provider')) return 'stream';
  return 'burst';
}

function classifyEndpoint(classifier: Classifier, e: Endpoint): string {
  return classifier.classify({
    iface: e.iface,
    port: e.port,
    ...(e.host !== undefined ? { host: e.host } : {}),
    ...(e.ip !== undefined ? { ip: e.ip } : {}),
    ...(e.pkg !== undefined ? { pkg: e.pkg } : {}),
  }).app;
}

/** An address in 198.18.0.0/15 (RFC 2544, benchmarking) picked from the text, stable across runs. */
function benchmarkAddress(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return `198.${18 + (h & 1)}.${(h >>> 8) & 0xff}.${1 + ((h >>> 16) % 254)}`;
}

/** A host address inside the CIDR (the network plus a small offset), or null when it has no room. */
function addressInside(cidr: string): string | null {
  const parsed = parseCidr(cidr);
  if (typeof parsed === 'string') return null;
  const bits = parsed.bytes.length * 8;
  if (bits - parsed.prefixLength < 4) return null;
  const bytes = [...parsed.bytes];
  bytes[bytes.length - 1] = (bytes[bytes.length - 1]! | 7) & 0xff;
  const addr = ipaddr.fromByteArray(bytes);
  return addr.kind() === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
}
