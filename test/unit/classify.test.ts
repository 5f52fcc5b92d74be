import t from 'tap';
import fc from 'fast-check';
import { appSignatures, compileClassifier } from '../../src/classify/index.js';
import type { Classification, ClassifierApp, ClassifyRecord } from '../../src/classify/index.js';
import { normalizeHost } from '../../src/shared/host.js';
import { parseCidr, parseIp } from '../../src/shared/ip.js';
import { domainToASCII } from 'node:url';

const catalog: ClassifierApp[] = [
  {
    id: 'navigation',
    hosts: ['*.amap.com', 'Static.AMAP.com'],
    cidrs: ['203.0.113.0/24', '2001:db8:10::/48'],
    packages: ['com.autonavi.amapauto'],
  },
  // exact beats suffix, even against a suffix app listed first
  { id: 'search', hosts: ['restapi.amap.com'] },
  // a longer suffix, restricted to 443: a record on another port falls back to `*.amap.com`
  { id: 'tiles', hosts: ['*.tile.amap.com'], ports: [443] },
  { id: 'traffic', hosts: ['*.live.tile.amap.com'] },
  {
    id: 'telemetry',
    hosts: ['telemetry.acme.example'],
    cidrs: ['10.0.0.0/8', '::ffff:198.51.100.0/120'],
    packages: ['com.acme.telematics'],
    blockable: false,
  },
  { id: 'remote', cidrs: ['10.1.0.0/16', '2001:db8::/32'] },
  { id: 'ota', cidrs: ['10.1.2.0/24'], ports: [8443] },
  // the same host in two apps with disjoint ports: the port decides
  { id: 'music', hosts: ['media.example'], ports: [443] },
  { id: 'video', hosts: ['media.example'], ports: [80, 8080] },
  // IDN both ways: U-label in the catalog, A-label in the catalog
  { id: 'books', hosts: ['bücher.example', '*.bücher.example'] },
  { id: 'city', hosts: ['xn--mnchen-3ya.de'] },
  { id: 'radio', packages: ['com.example.radio'], ports: [443] },
  // unparseable patterns are skipped, never thrown; the app's other patterns still work
  { id: 'broken', hosts: ['bad host.example', 'ok.broken.example'], cidrs: ['10.9.9.9/8', 'nonsense'] },
];

const classifier = compileClassifier(catalog);

const cases: Array<[name: string, record: ClassifyRecord, ruleId: string]> = [
  // step 1
  ['hotspot overrides an exact host', { iface: 'hotspot', host: 'restapi.amap.com', port: 443 }, 'wifi-hotspot/iface/hotspot'],
  ['hotspot overrides cidr and package', { iface: 'hotspot', ip: '10.1.2.3', pkg: 'com.acme.telematics' }, 'wifi-hotspot/iface/hotspot'],
  ['hotspot with nothing else', { iface: 'hotspot' }, 'wifi-hotspot/iface/hotspot'],
  ['tbox iface is classified normally', { iface: 'tbox', host: 'restapi.amap.com' }, 'search/host/restapi.amap.com'],
  // step 2
  ['exact host', { host: 'telemetry.acme.example' }, 'telemetry/host/telemetry.acme.example'],
  ['exact beats suffix', { host: 'restapi.amap.com', port: 443 }, 'search/host/restapi.amap.com'],
  ['exact rule id keeps the pattern as written', { host: 'static.amap.com' }, 'navigation/host/Static.AMAP.com'],
  ['exact: case and trailing dot', { host: 'RESTAPI.Amap.COM.' }, 'search/host/restapi.amap.com'],
  ['exact: surrounding whitespace', { host: '  restapi.amap.com ' }, 'search/host/restapi.amap.com'],
  ['exact: host:port', { host: 'restapi.amap.com:443' }, 'search/host/restapi.amap.com'],
  ['exact beats cidr and package', { host: 'telemetry.acme.example', ip: '203.0.113.7', pkg: 'com.autonavi.amapauto' }, 'telemetry/host/telemetry.acme.example'],
  // step 3
  ['suffix', { host: 'tile.amap.com' }, 'navigation/suffix/*.amap.com'],
  ['suffix: deep subdomain', { host: 'a.b.c.d.amap.com' }, 'navigation/suffix/*.amap.com'],
  ['suffix: apex is not matched', { host: 'amap.com' }, 'general/default/*'],
  ['suffix: a longer name ending in the suffix text is not below it', { host: 'xamap.com' }, 'general/default/*'],
  ['suffix: host:443', { host: 'vector.amap.com:443' }, 'navigation/suffix/*.amap.com'],
  ['suffix: case and trailing dot', { host: 'Vector.AMAP.Com.' }, 'navigation/suffix/*.amap.com'],
  ['longest suffix wins', { host: 'x.tile.amap.com', port: 443 }, 'tiles/suffix/*.tile.amap.com'],
  ['longest suffix wins, deeper still', { host: 'z.live.tile.amap.com', port: 443 }, 'traffic/suffix/*.live.tile.amap.com'],
  ['apex of the longer suffix falls to the shorter one', { host: 'live.tile.amap.com', port: 443 }, 'tiles/suffix/*.tile.amap.com'],
  ['longest suffix valid for the port', { host: 'x.tile.amap.com', port: 80 }, 'navigation/suffix/*.amap.com'],
  ['no port never matches a port-restricted suffix', { host: 'x.tile.amap.com' }, 'navigation/suffix/*.amap.com'],
  ['suffix beats cidr', { host: 'tile.amap.com', ip: '10.1.2.3' }, 'navigation/suffix/*.amap.com'],
  // ports on exact hosts
  ['shared host, port 443', { host: 'media.example', port: 443 }, 'music/host/media.example'],
  ['shared host, port 8080', { host: 'media.example', port: 8080 }, 'video/host/media.example'],
  ['shared host, port outside both sets', { host: 'media.example', port: 22 }, 'general/default/*'],
  ['shared host, no port', { host: 'media.example' }, 'general/default/*'],
  ['shared host, no port, falls through to cidr', { host: 'media.example', ip: '203.0.113.1' }, 'navigation/cidr/203.0.113.0/24'],
  // IDN
  ['IDN: U-label record, U-label catalog', { host: 'bücher.example' }, 'books/host/bücher.example'],
  ['IDN: A-label record, U-label catalog', { host: 'xn--bcher-kva.example' }, 'books/host/bücher.example'],
  ['IDN: upper-case U-label record', { host: 'BÜCHER.example' }, 'books/host/bücher.example'],
  ['IDN: suffix in U-labels', { host: 'www.xn--bcher-kva.example' }, 'books/suffix/*.bücher.example'],
  ['IDN: U-label record, A-label catalog', { host: 'münchen.de' }, 'city/host/xn--mnchen-3ya.de'],
  ['IDN: A-label record, A-label catalog', { host: 'xn--mnchen-3ya.de' }, 'city/host/xn--mnchen-3ya.de'],
  // a host failing conversion matches no host rule and falls through
  ['bad punycode falls through to ip', { host: 'xn--a.amap.com', ip: '203.0.113.9' }, 'navigation/cidr/203.0.113.0/24'],
  ['empty punycode falls through to ip', { host: 'xn--.amap.com', ip: '203.0.113.9' }, 'navigation/cidr/203.0.113.0/24'],
  ['A-label decoding to plain ASCII falls through to ip', { host: 'xn--zz-.amap.com', ip: '203.0.113.9' }, 'navigation/cidr/203.0.113.0/24'],
  ['forbidden code point falls through to pkg', { host: 'tile amap.com', pkg: 'com.acme.telematics' }, 'telemetry/package/com.acme.telematics'],
  ['empty host falls through to general', { host: '' }, 'general/default/*'],
  // step 4
  ['cidr IPv4', { ip: '203.0.113.200' }, 'navigation/cidr/203.0.113.0/24'],
  ['cidr IPv4: longest wins (/16 over /8)', { ip: '10.1.9.9' }, 'remote/cidr/10.1.0.0/16'],
  ['cidr IPv4: the /8', { ip: '10.200.0.1' }, 'telemetry/cidr/10.0.0.0/8'],
  ['cidr IPv4: longest valid for the port (/24 on 8443)', { ip: '10.1.2.3', port: 8443 }, 'ota/cidr/10.1.2.0/24'],
  ['cidr IPv4: /24 excluded by port falls to /16', { ip: '10.1.2.3', port: 443 }, 'remote/cidr/10.1.0.0/16'],
  ['cidr IPv4: /24 excluded without port', { ip: '10.1.2.3' }, 'remote/cidr/10.1.0.0/16'],
  ['cidr IPv6: longest wins (/48 over /32)', { ip: '2001:db8:10::7' }, 'navigation/cidr/2001:db8:10::/48'],
  ['cidr IPv6: the /32', { ip: '2001:db8:ffff::1' }, 'remote/cidr/2001:db8::/32'],
  ['cidr IPv6: non-canonical text', { ip: '2001:0DB8:0010:0000::0007' }, 'navigation/cidr/2001:db8:10::/48'],
  ['IPv4-mapped IPv6 record matches an IPv4 cidr', { ip: '::ffff:203.0.113.7' }, 'navigation/cidr/203.0.113.0/24'],
  ['IPv4 record matches an IPv4-mapped catalog cidr', { ip: '198.51.100.5' }, 'telemetry/cidr/::ffff:198.51.100.0/120'],
  ['IPv6 outside every prefix', { ip: '2001:db9::1' }, 'general/default/*'],
  ['invalid ip matches no cidr', { ip: '203.0.113', pkg: 'com.autonavi.amapauto' }, 'navigation/package/com.autonavi.amapauto'],
  ['cidr beats package', { ip: '10.1.2.3', pkg: 'com.autonavi.amapauto' }, 'remote/cidr/10.1.0.0/16'],
  // step 5
  ['package fallback', { host: 'unknown.example', ip: '192.0.2.1', pkg: 'com.autonavi.amapauto' }, 'navigation/package/com.autonavi.amapauto'],
  ['package is case-sensitive', { pkg: 'com.AutoNavi.amapauto' }, 'general/default/*'],
  ['port-restricted package with its port', { pkg: 'com.example.radio', port: 443 }, 'radio/package/com.example.radio'],
  ['port-restricted package without port', { pkg: 'com.example.radio' }, 'general/default/*'],
  // step 6
  ['empty record', {}, 'general/default/*'],
  ['nothing matches', { host: 'example.org', ip: '192.0.2.1', port: 443, pkg: 'org.example' }, 'general/default/*'],
  // skipped patterns
  ['valid pattern beside skipped ones', { host: 'ok.broken.example' }, 'broken/host/ok.broken.example'],
  ['skipped host-bits cidr matches nothing', { ip: '10.9.9.9' }, 'telemetry/cidr/10.0.0.0/8'],
];

t.test('DESIGN 4.1 classification', async (t) => {
  for (const [name, record, ruleId] of cases) {
    const app = ruleId.slice(0, ruleId.indexOf('/'));
    t.strictSame(classifier.classify(record), { app, ruleId }, name);
  }
});

t.test('unparseable patterns are reported, not thrown', async (t) => {
  t.strictSame(
    classifier.skipped.map((s) => `${s.app}/${s.kind}/${s.pattern}`),
    ['broken/host/bad host.example', 'broken/cidr/10.9.9.9/8', 'broken/cidr/nonsense'],
  );
  const odd = compileClassifier([{ id: 'odd', hosts: ['*.', '*.*.x.example', 'a.*.example', ''] }]);
  t.equal(odd.skipped.length, 4);
  t.strictSame(odd.classify({ host: 'a.b.x.example' }), { app: 'general', ruleId: 'general/default/*' });
});

t.test('results are shared frozen objects', async (t) => {
  const a = classifier.classify({ host: 'tile.amap.com' });
  const b = classifier.classify({ host: 'vector.amap.com' });
  t.equal(a, b);
  t.ok(Object.isFrozen(a));
  t.ok(Object.isFrozen(classifier.classify({})));
});

t.test('an empty catalog classifies everything as general or hotspot', async (t) => {
  const empty = compileClassifier([]);
  t.strictSame(empty.classify({ host: 'tile.amap.com', ip: '10.0.0.1', pkg: 'x' }), { app: 'general', ruleId: 'general/default/*' });
  t.strictSame(empty.classify({ iface: 'hotspot' }), { app: 'wifi-hotspot', ruleId: 'wifi-hotspot/iface/hotspot' });
});

t.test('a catch-all cidr matches every address of its family', async (t) => {
  const c = compileClassifier([{ id: 'any4', cidrs: ['0.0.0.0/0'] }, { id: 'any6', cidrs: ['::/0'] }]);
  t.equal(c.classify({ ip: '192.0.2.1' }).ruleId, 'any4/cidr/0.0.0.0/0');
  t.equal(c.classify({ ip: '::ffff:192.0.2.1' }).ruleId, 'any4/cidr/0.0.0.0/0');
  t.equal(c.classify({ ip: '2001:db8::1' }).ruleId, 'any6/cidr/::/0');
});

t.test('appSignatures (DESIGN 3.4)', async (t) => {
  t.strictSame(appSignatures([catalog[0]!, catalog[2]!, catalog[4]!]), [
    {
      id: 'navigation',
      hosts: ['*.amap.com', 'Static.AMAP.com'],
      cidrs: ['203.0.113.0/24', '2001:db8:10::/48'],
      packages: ['com.autonavi.amapauto'],
      ports: null,
      blockable: true,
    },
    { id: 'tiles', hosts: ['*.tile.amap.com'], cidrs: [], packages: [], ports: [443], blockable: true },
    {
      id: 'telemetry',
      hosts: ['telemetry.acme.example'],
      cidrs: ['10.0.0.0/8', '::ffff:198.51.100.0/120'],
      packages: ['com.acme.telematics'],
      ports: null,
      blockable: false,
    },
  ]);
  const signatures = appSignatures(catalog);
  t.not(signatures[0]!.hosts, catalog[0]!.hosts, 'arrays are copies');
  t.notOk(signatures.some((s) => s.id === 'general' || s.id === 'wifi-hotspot'), 'built-ins are not listed');
});

// ---- property: the compiled classifier equals a plain linear scan of DESIGN 4.1 ----

const GENERAL: Classification = { app: 'general', ruleId: 'general/default/*' };

function admits(app: ClassifierApp, port: number | undefined): boolean {
  return app.ports === undefined || (port !== undefined && app.ports.includes(port));
}

function inCidr(ip: { family: 4 | 6; bytes: readonly number[] }, pattern: string): number {
  const cidr = parseCidr(pattern);
  if (typeof cidr === 'string' || cidr.family !== ip.family) return -1;
  for (let bit = 0; bit < cidr.prefixLength; bit++) {
    const mask = 1 << (7 - (bit % 8));
    const byte = Math.floor(bit / 8);
    if ((ip.bytes[byte]! & mask) !== (cidr.bytes[byte]! & mask)) return -1;
  }
  return cidr.prefixLength;
}

function referenceClassify(apps: readonly ClassifierApp[], record: ClassifyRecord): Classification {
  if (record.iface === 'hotspot') return { app: 'wifi-hotspot', ruleId: 'wifi-hotspot/iface/hotspot' };
  const eligible = apps.filter((app) => admits(app, record.port));
  const hit = (app: ClassifierApp, kind: string, pattern: string): Classification => ({
    app: app.id,
    ruleId: `${app.id}/${kind}/${pattern}`,
  });

  const host = record.host === undefined ? null : normalizeHost(record.host);
  if (host !== null) {
    for (const app of eligible) {
      for (const pattern of app.hosts ?? []) {
        if (!pattern.startsWith('*.') && normalizeHost(pattern) === host) return hit(app, 'host', pattern);
      }
    }
    let best: Classification | null = null;
    let bestLength = -1;
    for (const app of eligible) {
      for (const pattern of app.hosts ?? []) {
        if (!pattern.startsWith('*.')) continue;
        const suffix = normalizeHost(pattern.slice(2));
        if (suffix !== null && host.endsWith(`.${suffix}`) && suffix.length > bestLength) {
          best = hit(app, 'suffix', pattern);
          bestLength = suffix.length;
        }
      }
    }
    if (best !== null) return best;
  }

  const ip = record.ip === undefined ? null : parseIp(record.ip);
  if (ip !== null) {
    let best: Classification | null = null;
    let bestLength = -1;
    for (const app of eligible) {
      for (const pattern of app.cidrs ?? []) {
        const length = inCidr(ip, pattern);
        if (length > bestLength) {
          best = hit(app, 'cidr', pattern);
          bestLength = length;
        }
      }
    }
    if (best !== null) return best;
  }

  if (record.pkg !== undefined) {
    for (const app of eligible) {
      for (const pattern of app.packages ?? []) {
        if (pattern === record.pkg) return hit(app, 'package', pattern);
      }
    }
  }
  return GENERAL;
}

const PORTS = [80, 443, 8080];
const labelArb = fc.constantFrom('a', 'b', 'c', 'B');
const nameArb = fc
  .array(labelArb, { minLength: 0, maxLength: 3 })
  .map((labels) => [...labels, 'example'].join('.'));
const hostPatternArb = fc.oneof(nameArb, nameArb.map((name) => `*.${name}`));
const cidrArb = fc.constantFrom(
  '0.0.0.0/0',
  '10.0.0.0/8',
  '10.1.0.0/16',
  '::ffff:10.1.0.0/112',
  '10.1.2.0/24',
  '2001:db8::/32',
  '2001:db8:1::/48',
);
const pkgArb = fc.constantFrom('p.one', 'p.two', 'p.three');

const appBodyArb = fc.record(
  {
    hosts: fc.array(hostPatternArb, { maxLength: 4 }),
    cidrs: fc.array(cidrArb, { maxLength: 2 }),
    packages: fc.array(pkgArb, { maxLength: 2 }),
    ports: fc.subarray(PORTS),
  },
  { requiredKeys: ['hosts'] },
);
const appsArb = fc
  .array(appBodyArb, { maxLength: 6 })
  .map((bodies) => bodies.map((body, i): ClassifierApp => ({ id: `app-${i}`, ...body })));

const recordArb: fc.Arbitrary<ClassifyRecord> = fc.record(
  {
    iface: fc.constantFrom('tbox' as const, 'hotspot' as const),
    host: fc.oneof(
      nameArb,
      nameArb.map((name) => `${name.toUpperCase()}.`),
      nameArb.map((name) => `${name}:443`),
      fc.constant('bad host.example'),
    ),
    ip: fc.constantFrom('10.1.2.3', '10.2.0.1', '::ffff:10.1.2.3', '192.0.2.1', '2001:db8:1::5', '2001:db9::1', 'bogus'),
    port: fc.constantFrom(...PORTS, 22),
    pkg: pkgArb,
  },
  { requiredKeys: [] },
);

t.test('property: compiled classifier equals a linear scan of 4.1', async (t) => {
  fc.assert(
    fc.property(appsArb, fc.array(recordArb, { minLength: 1, maxLength: 20 }), (apps, records) => {
      const compiled = compileClassifier(apps);
      for (const record of records) {
        const got = compiled.classify(record);
        const want = referenceClassify(apps, record);
        if (got.app !== want.app || got.ruleId !== want.ruleId) {
          throw new Error(`${JSON.stringify(record)}: got ${got.ruleId}, want ${want.ruleId}`);
        }
      }
    }),
    { numRuns: 500 },
  );
  t.pass('500 random catalogs agree with the reference');
});

t.test('property: the plain-host fast path of normalizeHost answers what the full conversion does', async (t) => {
  const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
  const host = fc.oneof(
    fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join('.')),
    fc.stringMatching(/^[a-z0-9.x-]{1,30}$/),
  );
  fc.assert(
    fc.property(host, (h) => {
      const full = domainToASCII(h.endsWith('.') ? h.slice(0, -1) : h);
      // Where the fast path answers, the full conversion must agree (elsewhere the full conversion runs).
      const fast = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(h) && !h.includes('xn--') && !/(^|\.)([0-9]+|0x[0-9a-f]*)$/.test(h);
      return !fast || (full !== '' && normalizeHost(h) === full.toLowerCase() && full === h);
    }),
    { numRuns: 5_000 },
  );
  t.equal(normalizeHost('1.2.3.4'), '1.2.3.4');
  t.equal(normalizeHost('a.0x10'), domainToASCII('a.0x10') || null, 'a numeric last label goes through WHATWG host parsing');
  t.equal(normalizeHost('api.amap.com'), 'api.amap.com');
});

t.test('parseIp remembers answers without sharing mutable state', async (t) => {
  const a = parseIp('10.1.2.3');
  const b = parseIp('10.1.2.3');
  t.equal(a, b, 'the same answer object');
  t.same(a, { family: 4, bytes: [10, 1, 2, 3], canonical: '10.1.2.3' });
  t.equal(parseIp('10.1.2.3%eth0'), null);
});
