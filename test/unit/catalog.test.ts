import t from 'tap';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  CatalogError,
  canonicalJson,
  catalogVersion,
  loadCatalog,
  validateCatalog,
  type CatalogInputFile,
  type CatalogProblem,
} from '../../src/catalog/index.js';

type Data = Record<string, unknown>;
type Files = Record<string, Data>;

/** A small valid catalog over five files; each test gets a fresh copy to mutate. */
function baseFiles(): Files {
  return structuredClone({
    '00-billing.yaml': {
      billing: { timezone: 'Asia/Shanghai', currency: 'CNY', taxRate: '0.06', closeAfterDays: 3 },
      overage: { payer: 'oem-acme', pricePerGiB: '8.00' },
    },
    '10-sponsors.yaml': {
      sponsors: [
        { id: 'oem-acme', kind: 'automaker', name: 'ACME Motor', taxId: '91310000MA1FL5LQ3E' },
        { id: 'amap', kind: 'map_vendor', name: 'Amap' },
      ],
    },
    '20-apps.yaml': {
      apps: [
        { id: 'navigation', hosts: ['*.amap.com', 'restapi.amap.com'], cidrs: ['203.0.113.0/24'], packages: ['com.autonavi.amapauto'] },
        { id: 'telemetry', hosts: ['*.tsp.acme-motor.cn'], cidrs: ['2001:db8:a::/48'], blockable: false },
      ],
    },
    '30-sponsorships.yaml': {
      sponsorships: [
        { id: 'amap-nav-acme', sponsor: 'amap', app: 'navigation', vehicles: { automaker: 'oem-acme' }, capMiBPerVehicleMonth: 3072, pricePerGiB: '4.00' },
        { id: 'acme-telemetry', sponsor: 'oem-acme', app: 'telemetry', vehicles: { automaker: 'oem-acme' }, pricePerGiB: '2.50' },
      ],
    },
    '40-packs.yaml': {
      packs: [
        { id: 'hotspot-10g', apps: ['wifi-hotspot'], sizeMiB: 10240, validDays: 30, price: '30.00' },
        { id: 'vehicle-500m', apps: ['*'], sizeMiB: 500, validDays: 31, price: '0.00' },
      ],
      plans: [
        { id: 'iot-12m', termMonths: 12, monthlyPack: 'vehicle-500m', wholesale: '30.00', retail: '48.00' },
        { id: 'hotspot-pack', pack: 'hotspot-10g', wholesale: '20.00', retail: '30.00' },
      ],
    },
  });
}

function asInput(files: Files): CatalogInputFile[] {
  return Object.entries(files).map(([file, content]) => ({ file, content }));
}

/** Typed access into the test data (the data is ours, so the shape is known). */
function list(files: Files, file: string, section: string): Data[] {
  return files[file]![section] as Data[];
}
function item(files: Files, file: string, section: string, index: number): Data {
  return list(files, file, section)[index]!;
}
const apps = (f: Files) => list(f, '20-apps.yaml', 'apps');
const app = (f: Files, i: number) => item(f, '20-apps.yaml', 'apps', i);
const sponsor = (f: Files, i: number) => item(f, '10-sponsors.yaml', 'sponsors', i);
const sponsorship = (f: Files, i: number) => item(f, '30-sponsorships.yaml', 'sponsorships', i);
const pack = (f: Files, i: number) => item(f, '40-packs.yaml', 'packs', i);
const plan = (f: Files, i: number) => item(f, '40-packs.yaml', 'plans', i);
const billing = (f: Files) => f['00-billing.yaml']!.billing as Data;

t.test('the base catalog is valid', async (t) => {
  const result = validateCatalog(asInput(baseFiles()));
  t.same(result.problems, []);
  t.match(result.version, /^[0-9a-f]{64}$/);
  t.equal(result.catalog?.apps[0]?.blockable, true, 'defaults are applied');
  t.same(result.catalog?.sponsorships[0]?.vehicles.models, ['*']);
  t.equal(result.catalog?.sponsorships[0]?.priority, 0);
  t.ok(Object.isFrozen(result.catalog?.apps[0]?.hosts), 'the catalog is deeply frozen');
});

interface Case {
  name: string;
  change: (files: Files) => void;
  /** every problem expected, in any order; `message` is a fragment or pattern */
  problems: Array<{ file: string; path: string; message: string | RegExp }>;
}

function runCases(name: string, cases: Case[]): void {
  t.test(name, async (t) => {
    for (const c of cases) {
      const files = baseFiles();
      c.change(files);
      const result = validateCatalog(asInput(files));
      t.equal(result.catalog, null, `${c.name}: no catalog`);
      t.equal(result.problems.length, c.problems.length, `${c.name}: ${c.problems.length} problem(s)`, {
        found: result.problems,
      });
      for (const expected of c.problems) {
        const found = result.problems.find((p) => p.file === expected.file && p.path === expected.path);
        t.ok(found, `${c.name}: reported at ${expected.file}: ${expected.path}`, { found: result.problems });
        if (found) t.match(found.message, expected.message, `${c.name}: message`);
      }
    }
  });
}

const APPS = '20-apps.yaml';
const SPONSORS = '10-sponsors.yaml';
const SPS = '30-sponsorships.yaml';
const PACKS = '40-packs.yaml';
const BILLING = '00-billing.yaml';

runCases('schema errors, one per rule', [
  { name: 'unknown key in an entry', change: (f) => { app(f, 0).blokable = false; }, problems: [{ file: APPS, path: 'apps[0].blokable', message: 'unknown key' }] },
  { name: 'unknown top-level key', change: (f) => { f[SPONSORS]!.sponsor = []; }, problems: [{ file: SPONSORS, path: 'sponsor', message: 'unknown key' }] },
  { name: 'file is not a mapping', change: (f) => { f['50-x.yaml'] = ['a'] as unknown as Data; }, problems: [{ file: '50-x.yaml', path: '', message: 'must be a mapping of catalog sections (sponsors, apps, …), got a list' }] },
  { name: 'section is not a list', change: (f) => { f[APPS]!.apps = { id: 'x' }; }, problems: [{ file: APPS, path: 'apps', message: 'must be a list, got a mapping' }] },
  { name: 'id pattern', change: (f) => { app(f, 1).id = 'Telemetry'; sponsorship(f, 1).app = 'Telemetry'; }, problems: [{ file: APPS, path: 'apps[1].id', message: '"Telemetry" must match [a-z0-9-]{2,40}' }, { file: SPS, path: 'sponsorships[1].app', message: 'must match' }] },
  { name: 'sponsor kind', change: (f) => { sponsor(f, 1).kind = 'map-vendor'; }, problems: [{ file: SPONSORS, path: 'sponsors[1].kind', message: 'must be automaker, map_vendor or service_provider, got "map-vendor"' }] },
  { name: 'missing name', change: (f) => { delete sponsor(f, 1).name; }, problems: [{ file: SPONSORS, path: 'sponsors[1].name', message: 'is required' }] },
  { name: 'taxId fails GB 32100', change: (f) => { sponsor(f, 0).taxId = '91310000MA1FL5LQ3F'; }, problems: [{ file: SPONSORS, path: 'sponsors[0].taxId', message: "check character should be 'E'" }] },
  { name: 'unquoted price (a YAML float)', change: (f) => { sponsorship(f, 0).pricePerGiB = 4; }, problems: [{ file: SPS, path: 'sponsorships[0].pricePerGiB', message: 'must be a quoted decimal string such as "4.00", got number 4' }] },
  { name: 'price with 5 decimals', change: (f) => { sponsorship(f, 0).pricePerGiB = '4.00001'; }, problems: [{ file: SPS, path: 'sponsorships[0].pricePerGiB', message: 'at most 4 decimals' }] },
  { name: 'negative price', change: (f) => { sponsorship(f, 0).pricePerGiB = '-1.00'; }, problems: [{ file: SPS, path: 'sponsorships[0].pricePerGiB', message: 'decimal ≥ 0' }] },
  { name: 'pack price with 3 decimals', change: (f) => { pack(f, 0).price = '30.001'; }, problems: [{ file: PACKS, path: 'packs[0].price', message: 'at most 2 decimals' }] },
  { name: 'negative cap', change: (f) => { sponsorship(f, 0).capMiBPerVehicleMonth = -1; }, problems: [{ file: SPS, path: 'sponsorships[0].capMiBPerVehicleMonth', message: 'must be ≥ 0' }] },
  { name: 'fractional pack size', change: (f) => { pack(f, 0).sizeMiB = 10.5; }, problems: [{ file: PACKS, path: 'packs[0].sizeMiB', message: 'must be an integer, got number 10.5' }] },
  { name: 'zero validDays', change: (f) => { pack(f, 0).validDays = 0; }, problems: [{ file: PACKS, path: 'packs[0].validDays', message: 'must be > 0' }] },
  { name: 'port out of range', change: (f) => { app(f, 0).ports = [443, 70000]; }, problems: [{ file: APPS, path: 'apps[0].ports[1]', message: 'port 0-65535' }] },
  { name: 'impossible date', change: (f) => { sponsorship(f, 0).validFrom = '2026-02-30'; }, problems: [{ file: SPS, path: 'sponsorships[0].validFrom', message: 'valid date YYYY-MM-DD, got "2026-02-30"' }] },
  { name: 'validFrom ≥ validUntil', change: (f) => { Object.assign(sponsorship(f, 0), { validFrom: '2027-01-01', validUntil: '2027-01-01' }); }, problems: [{ file: SPS, path: 'sponsorships[0].validUntil', message: 'must be after validFrom 2027-01-01' }] },
  { name: 'validYearsFromActivation 0', change: (f) => { sponsorship(f, 0).validYearsFromActivation = 0; }, problems: [{ file: SPS, path: 'sponsorships[0].validYearsFromActivation', message: 'must be > 0' }] },
  { name: '"*" with other models', change: (f) => { (sponsorship(f, 0).vehicles as Data).models = ['*', 'A7']; }, problems: [{ file: SPS, path: 'sponsorships[0].vehicles.models', message: '"*" must be the only entry' }] },
  { name: 'missing automaker', change: (f) => { sponsorship(f, 0).vehicles = { models: ['A7'] }; }, problems: [{ file: SPS, path: 'sponsorships[0].vehicles.automaker', message: 'is required' }] },
  { name: 'plan without termMonths or pack', change: (f) => { delete plan(f, 1).pack; }, problems: [{ file: PACKS, path: 'plans[1]', message: 'must have termMonths or pack' }] },
  { name: 'monthlyPack without termMonths', change: (f) => { plan(f, 1).monthlyPack = 'vehicle-500m'; }, problems: [{ file: PACKS, path: 'plans[1].monthlyPack', message: 'needs termMonths' }] },
  { name: 'plan taxRate of 1', change: (f) => { plan(f, 0).taxRate = '1.00'; }, problems: [{ file: PACKS, path: 'plans[0].taxRate', message: 'in [0, 1)' }] },
  { name: 'invalid CIDR', change: (f) => { app(f, 0).cidrs = ['203.0.113.0/33']; }, problems: [{ file: APPS, path: 'apps[0].cidrs[0]', message: '"203.0.113.0/33" is not a valid CIDR' }] },
  { name: 'CIDR with host bits', change: (f) => { app(f, 0).cidrs = ['203.0.113.7/24']; }, problems: [{ file: APPS, path: 'apps[0].cidrs[0]', message: 'host bits' }] },
  { name: 'star inside a host', change: (f) => { app(f, 0).hosts = ['a.*.amap.com']; }, problems: [{ file: APPS, path: 'apps[0].hosts[0]', message: "'*' is only allowed as a leading '*.'" }] },
  { name: 'host failing normalisation', change: (f) => { app(f, 0).hosts = ['exa mple.com']; }, problems: [{ file: APPS, path: 'apps[0].hosts[0]', message: 'not a valid host name' }] },
  { name: 'unknown timezone', change: (f) => { billing(f).timezone = 'Asia/Beijing'; }, problems: [{ file: BILLING, path: 'billing.timezone', message: '"Asia/Beijing" is not an IANA time zone' }] },
  { name: 'timezone in the wrong case', change: (f) => { billing(f).timezone = 'asia/shanghai'; }, problems: [{ file: BILLING, path: 'billing.timezone', message: 'not an IANA time zone' }] },
  { name: 'lower-case currency', change: (f) => { billing(f).currency = 'cny'; }, problems: [{ file: BILLING, path: 'billing.currency', message: '3 uppercase letters' }] },
  { name: 'billing taxRate of 1', change: (f) => { billing(f).taxRate = '1'; }, problems: [{ file: BILLING, path: 'billing.taxRate', message: 'in [0, 1)' }] },
  { name: 'negative closeAfterDays', change: (f) => { billing(f).closeAfterDays = -1; }, problems: [{ file: BILLING, path: 'billing.closeAfterDays', message: 'must be ≥ 0' }] },
  { name: 'zero maxLinkMbps', change: (f) => { billing(f).maxLinkMbps = 0; }, problems: [{ file: BILLING, path: 'billing.maxLinkMbps', message: 'must be > 0' }] },
  { name: 'maxLinkMbps beyond 1 Tbit/s', change: (f) => { billing(f).maxLinkMbps = 1_000_001; }, problems: [{ file: BILLING, path: 'billing.maxLinkMbps', message: 'must be at most 1000000 (1 Tbit/s)' }] },
  { name: 'overage mapping with unknown key', change: (f) => { f[BILLING]!.overage = { payer: 'oem-acme', price: '8.00' }; }, problems: [{ file: BILLING, path: 'overage.price', message: 'unknown key' }, { file: BILLING, path: 'overage.pricePerGiB', message: 'is required' }] },
  { name: 'overage list entry without price', change: (f) => { f[BILLING]!.overage = [{ automaker: 'oem-acme' }]; }, problems: [{ file: BILLING, path: 'overage[0].pricePerGiB', message: 'is required' }] },
  { name: 'overage of the wrong type', change: (f) => { f[BILLING]!.overage = '8.00'; }, problems: [{ file: BILLING, path: 'overage', message: 'must be a mapping {payer?, pricePerGiB} or a list' }] },
]);

runCases('cross-file rules, one per rule', [
  { name: 'duplicate sponsor', change: (f) => { f['50-more.yaml'] = { sponsors: [{ id: 'amap', kind: 'map_vendor', name: 'Amap again' }] }; }, problems: [{ file: '50-more.yaml', path: 'sponsors[0].id', message: 'duplicate sponsor id "amap" (first in 10-sponsors.yaml sponsors[1])' }] },
  { name: 'duplicate app', change: (f) => { apps(f).push({ id: 'navigation' }); }, problems: [{ file: APPS, path: 'apps[2].id', message: 'duplicate app id "navigation"' }] },
  { name: 'duplicate sponsorship', change: (f) => { list(f, SPS, 'sponsorships').push({ ...sponsorship(f, 1) }); }, problems: [{ file: SPS, path: 'sponsorships[2].id', message: 'duplicate sponsorship id "acme-telemetry"' }] },
  { name: 'duplicate pack', change: (f) => { list(f, PACKS, 'packs').push({ ...pack(f, 0) }); }, problems: [{ file: PACKS, path: 'packs[2].id', message: 'duplicate pack id' }] },
  { name: 'duplicate plan', change: (f) => { f['50-more.yaml'] = { plans: [{ ...plan(f, 0) }] }; }, problems: [{ file: '50-more.yaml', path: 'plans[0].id', message: 'duplicate plan id "iot-12m" (first in 40-packs.yaml plans[0])' }] },
  { name: 'wifi-hotspot redefined', change: (f) => { apps(f).push({ id: 'wifi-hotspot', hosts: ['hotspot.example'] }); }, problems: [{ file: APPS, path: 'apps[2].id', message: '"wifi-hotspot" is a built-in app and may not be redefined' }] },
  { name: 'reserved payer id as a sponsor', change: (f) => { list(f, '10-sponsors.yaml', 'sponsors').push({ id: 'owner', kind: 'service_provider', name: 'Owner Inc' }); }, problems: [{ file: '10-sponsors.yaml', path: 'sponsors[2].id', message: '"owner" is reserved' }] },
  { name: 'seller tax id failing GB 32100', change: (f) => { billing(f).seller = { name: 'Operator', taxId: '91310115MA1H7G2K44' }; }, problems: [{ file: '00-billing.yaml', path: 'billing.seller.taxId', message: 'check character should be' }] },
  { name: 'general redefined', change: (f) => { apps(f).push({ id: 'general' }); }, problems: [{ file: APPS, path: 'apps[2].id', message: 'built-in' }] },
  { name: 'unknown sponsor', change: (f) => { sponsorship(f, 0).sponsor = 'baidu'; }, problems: [{ file: SPS, path: 'sponsorships[0].sponsor', message: 'unknown sponsor "baidu"' }] },
  { name: 'unknown app', change: (f) => { sponsorship(f, 0).app = 'navi'; }, problems: [{ file: SPS, path: 'sponsorships[0].app', message: 'unknown app "navi"' }] },
  { name: 'built-in app may be sponsored', change: (f) => { sponsorship(f, 0).app = 'wifi-hotspot'; sponsorship(f, 0).id = 'amap-hotspot'; sponsorship(f, 1).sponsor = 'nobody'; }, problems: [{ file: SPS, path: 'sponsorships[1].sponsor', message: 'unknown sponsor' }] },
  { name: 'unknown automaker', change: (f) => { sponsorship(f, 0).vehicles = { automaker: 'oem-zeta' }; }, problems: [{ file: SPS, path: 'sponsorships[0].vehicles.automaker', message: 'unknown automaker "oem-zeta"' }] },
  { name: 'automaker that is a map vendor', change: (f) => { sponsorship(f, 0).vehicles = { automaker: 'amap' }; }, problems: [{ file: SPS, path: 'sponsorships[0].vehicles.automaker', message: 'automaker "amap" must be an automaker, but is a map_vendor' }] },
  { name: 'pack covering an unknown app', change: (f) => { pack(f, 0).apps = ['wifi-hotspot', 'video']; }, problems: [{ file: PACKS, path: 'packs[0].apps[1]', message: 'unknown app "video"' }] },
  { name: 'plan with an unknown pack', change: (f) => { plan(f, 1).pack = 'hotspot-20g'; }, problems: [{ file: PACKS, path: 'plans[1].pack', message: 'unknown pack "hotspot-20g"' }] },
  { name: 'plan with an unknown monthly pack', change: (f) => { plan(f, 0).monthlyPack = 'vehicle-1g'; }, problems: [{ file: PACKS, path: 'plans[0].monthlyPack', message: 'unknown pack "vehicle-1g"' }] },
  { name: 'overage payer not an automaker', change: (f) => { f[BILLING]!.overage = { payer: 'amap', pricePerGiB: '8.00' }; }, problems: [{ file: BILLING, path: 'overage.payer', message: 'overage payer "amap" must be an automaker' }] },
  { name: 'overage payer unknown', change: (f) => { f[BILLING]!.overage = { payer: 'acme', pricePerGiB: '8.00' }; }, problems: [{ file: BILLING, path: 'overage.payer', message: 'unknown overage payer "acme"' }] },
  {
    name: 'overage list: unknown automaker, duplicate, bad payer, automaker without entry',
    change: (f) => {
      list(f, SPONSORS, 'sponsors').push({ id: 'oem-zeta', kind: 'automaker', name: 'Zeta' });
      f[BILLING]!.overage = [
        { automaker: 'oem-acme', pricePerGiB: '8.00' },
        { automaker: 'oem-acme', payer: 'amap', pricePerGiB: '9.00' },
        { automaker: 'oem-nope', pricePerGiB: '9.00' },
      ];
    },
    problems: [
      { file: BILLING, path: 'overage[1].automaker', message: 'duplicate entry for "oem-acme" (first at overage[0])' },
      { file: BILLING, path: 'overage[1].payer', message: 'overage payer "amap" must be an automaker' },
      { file: BILLING, path: 'overage[2].automaker', message: 'unknown automaker "oem-nope"' },
      { file: BILLING, path: 'overage', message: 'automaker "oem-zeta" has no overage entry' },
    ],
  },
  { name: 'same exact host (after normalisation)', change: (f) => { app(f, 1).hosts = ['RESTAPI.amap.com.']; }, problems: [{ file: APPS, path: 'apps[1].hosts[0]', message: 'host "restapi.amap.com" is also in app "navigation" (20-apps.yaml apps[0].hosts[1])' }] },
  { name: 'same suffix', change: (f) => { app(f, 1).hosts = ['*.AMAP.com']; }, problems: [{ file: APPS, path: 'apps[1].hosts[0]', message: 'suffix "*.amap.com" is also in app "navigation"' }] },
  { name: 'same canonical CIDR', change: (f) => { app(f, 0).cidrs = ['2001:0db8:000a:0::/48']; }, problems: [{ file: APPS, path: 'apps[1].cidrs[0]', message: 'CIDR "2001:db8:a::/48" is also in app "navigation"' }] },
  { name: 'same package across files', change: (f) => { f['25-more-apps.yaml'] = { apps: [{ id: 'carplay', packages: ['com.autonavi.amapauto'] }] }; }, problems: [{ file: '25-more-apps.yaml', path: 'apps[0].packages[0]', message: 'package "com.autonavi.amapauto" is also in app "navigation"' }] },
  { name: 'shared host, only one app has ports', change: (f) => { app(f, 0).ports = [443]; app(f, 1).hosts = ['restapi.amap.com']; }, problems: [{ file: APPS, path: 'apps[1].hosts[0]', message: 'only with disjoint ports' }] },
  { name: 'shared host, overlapping ports', change: (f) => { app(f, 0).ports = [443, 80]; app(f, 1).ports = [80]; app(f, 1).hosts = ['restapi.amap.com']; }, problems: [{ file: APPS, path: 'apps[1].hosts[0]', message: 'also in app "navigation"' }] },
  { name: 'billing in two files', change: (f) => { f['50-more.yaml'] = { billing: billing(f) }; }, problems: [{ file: '50-more.yaml', path: 'billing', message: 'also defined in 00-billing.yaml' }] },
  { name: 'billing missing', change: (f) => { delete f[BILLING]!.billing; }, problems: [{ file: '(all files)', path: 'billing', message: 'is missing' }] },
  { name: 'overage missing', change: (f) => { delete f[BILLING]!.overage; }, problems: [{ file: '(all files)', path: 'overage', message: 'is missing' }] },
]);

t.test('apps may share a matcher when both have disjoint ports', async (t) => {
  const files = baseFiles();
  app(files, 0).ports = [443];
  Object.assign(app(files, 1), { ports: [80, 8080], hosts: ['restapi.amap.com', '*.amap.com'], packages: ['com.autonavi.amapauto'] });
  t.same(validateCatalog(asInput(files)).problems, []);
});

t.test('every problem is reported at once, without echoes of invalid entries', async (t) => {
  const files = baseFiles();
  app(files, 0).cidrs = ['203.0.113.7/24']; // the app is invalid, yet still known to references
  sponsorship(files, 1).pricePerGiB = 2.5;
  billing(files).currency = 'yuan';
  f50(files);
  const { problems } = validateCatalog(asInput(files));
  t.same(
    problems.map((p) => `${p.file}: ${p.path}`).sort(),
    [
      '00-billing.yaml: billing.currency',
      '20-apps.yaml: apps[0].cidrs[0]',
      '30-sponsorships.yaml: sponsorships[1].pricePerGiB',
      '50-more.yaml: packs[0].apps[0]',
      '50-more.yaml: sponsors[0].id',
    ],
  );
  const error = new CatalogError(problems);
  t.equal(error.code, 'CATALOG_INVALID');
  t.equal(error.message.split('\n').length, problems.length + 1, 'one line per problem after the heading');
  t.match(error.message, '\n00-billing.yaml: billing.currency: must be 3 uppercase letters');
});

function f50(files: Files): void {
  files['50-more.yaml'] = {
    sponsors: [{ id: 'oem-acme', kind: 'automaker', name: 'dup' }],
    packs: [{ id: 'music-1g', apps: ['music'], sizeMiB: 1024, validDays: 30, price: '5.00' }],
  };
}

t.test('canonicalJson', async (t) => {
  t.equal(canonicalJson({ b: [2, { d: 1, c: null }], a: 'x', u: undefined }), '{"a":"x","b":[2,{"c":null,"d":1}]}');
  t.equal(canonicalJson({ B: 1, a: 2, _: 3 }), '{"B":1,"_":3,"a":2}', 'code-unit order, not locale order');
  t.throws(() => canonicalJson({ n: Number.NaN }), TypeError);
  t.throws(() => canonicalJson({ n: 1n }), TypeError);
  t.throws(() => canonicalJson(new Date(0)), TypeError);
});

/** Deep copy with every object's keys in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}

t.test('catalog version', async (t) => {
  const version = validateCatalog(asInput(baseFiles())).version;
  const reordered = Object.fromEntries(Object.entries(baseFiles()).map(([k, v]) => [k, reverseKeys(v) as Data]));
  t.equal(validateCatalog(asInput(reordered)).version, version, 'stable under key reordering');

  const explicitDefaults = baseFiles();
  app(explicitDefaults, 0).blockable = true;
  sponsorship(explicitDefaults, 0).priority = 0;
  t.equal(validateCatalog(asInput(explicitDefaults)).version, version, 'defaults written out change nothing');

  const repriced = baseFiles();
  sponsorship(repriced, 0).pricePerGiB = '4.01';
  t.not(validateCatalog(asInput(repriced)).version, version, 'a price change is a new version');

  const result = validateCatalog(asInput(baseFiles()));
  if (result.catalog) t.equal(catalogVersion(result.catalog), version);
});

t.test('validateCatalog merges in byte order whatever the input order', async (t) => {
  const files = asInput(baseFiles()).reverse();
  files.push({ file: '2-a.yaml', content: { apps: [{ id: 'app-a' }] } }, { file: '10-b.yaml', content: { apps: [{ id: 'app-b' }] } });
  const ids = validateCatalog(files).catalog?.apps.map((a) => a.id);
  t.same(ids, ['app-b', 'app-a', 'navigation', 'telemetry'], "10-b before 2-a ('1' < '2'), 2-a before 20-apps ('-' < '0')");
});

/** The problems of the CatalogError that loading `dir` throws (fails the test when it loads). */
async function loadProblems(dir: string): Promise<readonly CatalogProblem[]> {
  try {
    await loadCatalog(dir);
  } catch (error) {
    if (error instanceof CatalogError) return error.problems;
    throw error;
  }
  throw new Error(`${dir} loaded, but a CatalogError was expected`);
}

t.test('loadCatalog', async (t) => {
  const base = baseFiles();
  const yaml = (data: Data) => stringify(data);

  t.test('reads .yaml and .yml in byte order, ignores other files and subfolders', async (t) => {
    const dir = t.testdir({
      '00-billing.yaml': yaml(base['00-billing.yaml']!),
      '10-sponsors.yml': yaml(base['10-sponsors.yaml']!),
      '10-b.yaml': yaml({ apps: [{ id: 'app-b', hosts: ['b.example.com'] }] }),
      '2-a.yaml': yaml({ apps: [{ id: 'app-a', hosts: ['a.example.com'] }] }),
      '20-apps.yaml': yaml(base['20-apps.yaml']!),
      '30-sponsorships.yaml': yaml(base['30-sponsorships.yaml']!),
      '40-packs.yaml': yaml(base['40-packs.yaml']!),
      '50-empty.yaml': '# nothing yet\n',
      'notes.txt': 'not: [valid',
      'old.yaml.bak': 'not: [valid',
      'catalog.json': '{}',
      'nested.yaml': { 'x.yaml': 'not: [valid' },
      sub: { '99-more.yaml': 'not: [valid' },
    });
    const loaded = await loadCatalog(dir);
    t.same(loaded.files, [
      '00-billing.yaml', '10-b.yaml', '10-sponsors.yml', '2-a.yaml', '20-apps.yaml', '30-sponsorships.yaml', '40-packs.yaml', '50-empty.yaml',
    ]);
    t.same(loaded.catalog.apps.map((a) => a.id), ['app-b', 'app-a', 'navigation', 'telemetry'], '10-b.yaml before 2-a.yaml');
    t.equal(loaded.catalog.sponsors.length, 2, '.yml is read');
    t.equal(loaded.canonical, canonicalJson(loaded.catalog));
  });

  t.test('YAML syntax errors are problems of their file, with the line', async (t) => {
    const dir = t.testdir({
      '00-billing.yaml': yaml(base['00-billing.yaml']!),
      '10-bad.yaml': 'sponsors:\n  - id: x\n    name: [unclosed\n',
      '20-dup.yaml': 'apps: []\napps: []\n',
      '30-apps.yaml': yaml({ apps: [{ id: 'Bad' }] }),
    });
    const problems = await loadProblems(dir);
    t.match(problems, [
      { file: '10-bad.yaml', path: '', message: /^YAML syntax error at line \d+, column \d+: / },
      { file: '20-dup.yaml', path: '', message: /line 2, column 1: Map keys must be unique/ },
      { file: '30-apps.yaml', path: 'apps[0].id', message: 'must match' },
    ] as Partial<CatalogProblem>[]);
    t.equal(problems.length, 3, 'no echo of the unreadable file (billing and overage are not "missing")');
  });

  t.test('an unquoted date stays a string, an unquoted price is refused', async (t) => {
    const dir = t.testdir({
      '00-all.yaml': [
        'billing: { timezone: Asia/Shanghai, currency: CNY, taxRate: "0.06", closeAfterDays: 3 }',
        'overage: { pricePerGiB: 8.00 }',
        'sponsors: [{ id: oem-acme, kind: automaker, name: ACME }]',
        'sponsorships:',
        '  - { id: s1, sponsor: oem-acme, app: general, vehicles: { automaker: oem-acme }, pricePerGiB: "1", validFrom: 2026-01-01 }',
      ].join('\n'),
    });
    t.same(await loadProblems(dir), [
      { file: '00-all.yaml', path: 'overage.pricePerGiB', message: 'must be a quoted decimal string such as "4.00", got number 8' },
    ]);
  });

  t.test('a missing folder or an empty one is an error', async (t) => {
    t.match(await loadProblems('/nonexistent/catalog'), [{ file: '/nonexistent/catalog', message: /cannot read the catalog folder/ }]);
    t.match(await loadProblems(t.testdir({ 'readme.md': 'x' })), [{ message: /no catalog files/ }]);
  });
});

t.test('the demo catalog in sponsors/ loads with no problems', async (t) => {
  const dir = fileURLToPath(new URL('../../sponsors/', import.meta.url));
  const loaded = await loadCatalog(dir);
  const { catalog } = loaded;
  t.match(loaded.version, /^[0-9a-f]{64}$/);
  t.match(catalog.billing, { timezone: 'Asia/Shanghai', currency: 'CNY', taxRate: '0.06', closeAfterDays: 3, maxLateDays: 400, seller: { taxId: '91310115MA1H7G2K43' } });
  t.same(catalog.overage, { payer: 'oem-acme', pricePerGiB: '8.00' });
  t.same(catalog.apps.filter((a) => !a.blockable).map((a) => a.id).sort(), ['remote-control', 'telemetry']);
  t.same(catalog.packs.map((p) => p.id), ['hotspot-10g', 'general-5g', 'vehicle-500m']);
  t.same(catalog.plans.map((p) => p.id), ['iot-12m', 'hotspot-pack']);
  t.ok(catalog.sponsors.some((s) => s.id === 'oem-acme' && s.kind === 'automaker' && s.taxId));
});
