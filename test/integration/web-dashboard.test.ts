import t from 'tap';
import { BYTES_PER_MIB, formatMinor, lineAmountMinor } from '../../src/shared/money.js';
import { formatBytesExact, formatGb, formatMoney, formatPercent, formatPrice, groupDigits } from '../../src/web/format.js';
import { createTopVehiclesCache, TOP_VEHICLES_TTL_MS } from '../../src/web/dashboard-query.js';
import { escapeHtml, html, jsonScript } from '../../src/web/html.js';
import { languageFromAcceptLanguage, translator } from '../../src/web/i18n.js';
import { safeReturnPath } from '../../src/web/session.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, csrfOf, dataAttributes, GIB, signIn, SPLIT_RECORD, startWebFixture } from '../browser/web-fixture.js';

// The dashboard's figures are the API's figures (issue 4): the same rollups through the same queries,
// formatted as GB of 1,073,741,824 bytes and CNY with 2 decimals; explain, invoices, caps, top vehicles.

const fx = await startWebFixture(t);
const web = browserLike(fx.svc);
const [carA, carB] = fx.cars;

/** The text content of the element with `id`, tags stripped, whitespace collapsed. */
function textOf(page: string, id: string): string {
  const start = page.indexOf(`id="${id}"`);
  if (start < 0) return '';
  const tag = page.lastIndexOf('<', start);
  const name = /^<(\w+)/.exec(page.slice(tag))![1]!;
  // Find the matching close tag, counting nested elements of the same name.
  const tags = new RegExp(`<(/?)${name}\\b[^>]*>`, 'g');
  tags.lastIndex = page.indexOf('>', start) + 1;
  let depth = 1;
  let end = page.length;
  for (let m = tags.exec(page); m; m = tags.exec(page)) {
    depth += m[1] ? -1 : 1;
    if (depth === 0) {
      end = m.index;
      break;
    }
  }
  return page.slice(page.indexOf('>', start) + 1, end).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
}

t.test('month to date by app: every line and the totals equal GET /v1/sponsors/:id/usage', async (t) => {
  for (const [sponsor, key] of Object.entries({ amap: fx.keys.amap, qqmusic: fx.keys.qqmusic, 'oem-acme': fx.keys.oem, ximalaya: fx.keys.ximalaya })) {
    const cookie = await signIn(web, key);
    for (const month of ['2026-11', '2026-10']) {
      const api = (await fx.svc.request('GET', `/v1/sponsors/${sponsor}/usage?month=${month}`, { token: key })).body;
      const page = (await web('GET', `/app/sponsors/${sponsor}${month === '2026-11' ? '' : `?month=${month}`}`, { cookie })).body;
      t.ok(api.lines.length > 0, `${sponsor} ${month} has usage`);
      t.same(dataAttributes(page, 'amount').slice(1), api.lines.map((l: any) => l.amount), `${sponsor} ${month}: line amounts`);
      t.same(dataAttributes(page, 'app'), api.lines.map((l: any) => l.app));
      t.same(dataAttributes(page, 'kind'), api.lines.map((l: any) => l.kind));
      t.same(dataAttributes(page, 'price'), api.lines.map((l: any) => l.pricePerGiB));
      t.equal(/id="kpi-bytes" data-bytes="(\d+)"/.exec(page)?.[1], String(api.totalBytes), 'total bytes');
      t.equal(/id="kpi-amount" data-amount="([\d.]+)"/.exec(page)?.[1], api.totalAmount, 'total amount');
      // What people read: GB (2^30 bytes) with 3 decimals, and CNY with 2.
      t.match(textOf(page, 'kpi-bytes'), `${formatGb(BigInt(api.totalBytes))} GB`);
      t.match(textOf(page, 'kpi-bytes'), groupDigits(String(api.totalBytes)));
      t.match(textOf(page, 'kpi-amount'), `CNY ${groupDigits(api.totalAmount.split('.')[0])}.${api.totalAmount.split('.')[1]}`);
      for (const line of api.lines) t.match(textOf(page, 'by-app'), formatMoney(line.amount, 'CNY'));
    }
  }
});

t.test('the daily chart’s data and table add up to groupBy=day, per day and app', async (t) => {
  const cookie = await signIn(web, fx.keys.amap);
  const page = (await web('GET', '/app/sponsors/amap', { cookie })).body;
  const api = (await fx.svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11&groupBy=day', { token: fx.keys.amap })).body;
  const chart = JSON.parse(/<script type="application\/json" id="daily-data">(.*?)<\/script>/s.exec(page)![1]!);
  t.equal(chart.days.length, 15, '1 to 15 November: the month so far');
  t.equal(chart.days[0], '2026-11-01');
  const expected = new Map<string, bigint>();
  for (const line of api.lines) expected.set(`${line.day}|${line.app}`, (expected.get(`${line.day}|${line.app}`) ?? 0n) + BigInt(line.bytes));
  const seen = new Map<string, bigint>();
  for (const series of chart.series) {
    series.exact.forEach((text: string, i: number) => {
      const bytes = BigInt(text.replace(/,/g, ''));
      if (bytes > 0n) seen.set(`${chart.days[i]}|${series.name}`, bytes);
    });
  }
  t.same(seen, expected, 'exact bytes per day and app');
  t.same([...seen.keys()].sort(), ['2026-11-02|navigation', '2026-11-09|navigation', '2026-11-10|navigation']);
  t.match(page, '<script src="/app/assets/echarts.min.js" defer></script>');
  t.match(page, 'id="daily-table"');
});

t.test('cap utilisation across the fleet, from cap_usage', async (t) => {
  const cookie = await signIn(web, fx.keys.qqmusic);
  const page = (await web('GET', '/app/sponsors/qqmusic', { cookie })).body;
  const cap = 1024n * BYTES_PER_MIB;
  t.same(dataAttributes(page, 'sponsorship'), ['qqmusic-acme-2026']);
  t.same(dataAttributes(page, 'vehicles'), ['2'], 'both cars used music this month');
  t.same(dataAttributes(page, 'at-cap'), ['1'], 'car A went beyond the cap');
  const used = cap + 1_020_000_000n;
  t.same(dataAttributes(page, 'used'), [String(used)]);
  t.match(textOf(page, 'caps'), `${formatGb(2n * cap)}`, 'Σ cap = 2 vehicles × 1 GB');
  t.match(textOf(page, 'caps'), formatPercent(used, 2n * cap));
  t.match(textOf(page, 'caps'), /\b1\b.*\b1\b/, 'one at cap, one near it (≥ 90 %)');
  const amap = (await web('GET', '/app/sponsors/amap', { cookie: await signIn(web, fx.keys.amap) })).body;
  t.same(dataAttributes(amap, 'vehicles'), ['2']);
  t.same(dataAttributes(amap, 'at-cap'), ['1'], 'car A: 3.4 GB of navigation against 3 GB');
  const oem = (await web('GET', '/app/sponsors/oem-acme', { cookie: await signIn(web, fx.keys.oem) })).body;
  t.notMatch(oem, 'id="caps"', 'the automaker’s sponsorships have no cap');
  t.match(oem, '均未设置封顶');
});

t.test('top vehicles, from rollup_vehicle_month, agree with groupBy=vehicle', async (t) => {
  const cookie = await signIn(web, fx.keys.amap);
  const page = (await web('GET', '/app/sponsors/amap', { cookie })).body;
  const api = (await fx.svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11&groupBy=vehicle&limit=1000', { token: fx.keys.amap })).body;
  const perVin = new Map<string, bigint>();
  for (const line of api.lines) perVin.set(line.vin, (perVin.get(line.vin) ?? 0n) + BigInt(line.bytes));
  t.same(dataAttributes(page, 'vin'), [carA.vin, carB.vin], 'largest first');
  const rows = [...page.matchAll(/<tr data-vin="([^"]+)">.*?data-bytes="(\d+)"/gs)].map((m) => [m[1], BigInt(m[2]!)]);
  t.same(rows, [...perVin].sort((a, b) => (b[1] > a[1] ? 1 : -1)));
  const amountA = api.lines.filter((l: any) => l.vin === carA.vin).reduce((s: bigint, l: any) => s + lineAmountMinor(BigInt(l.bytes), l.pricePerGiB), 0n);
  t.match(textOf(page, 'top-vehicles'), formatMoney(formatMinor(amountA), 'CNY'));
});

t.test('invoices: the list equals the API, each opens the printable invoice and its CSVs', async (t) => {
  const cookie = await signIn(web, fx.keys.amap);
  const page = (await web('GET', '/app/sponsors/amap/invoices', { cookie })).body;
  const api = (await fx.svc.request('GET', '/v1/sponsors/amap/invoices', { token: fx.keys.amap })).body.invoices;
  t.equal(api.length, 1);
  t.same(dataAttributes(page, 'number'), api.map((i: any) => i.number));
  t.same(dataAttributes(page, 'total'), api.map((i: any) => i.total));
  t.same(dataAttributes(page, 'status'), ['issued']);
  t.match(page, formatMoney(api[0].total, 'CNY'));
  t.match(page, `href="/app/sponsors/amap/invoices/${api[0].id}"`);

  const printable = await web('GET', `/app/sponsors/amap/invoices/${api[0].id}`, { cookie });
  t.equal(printable.statusCode, 200);
  const apiPrint = await fx.svc.request('GET', `/v1/sponsors/amap/invoices/${api[0].id}/print`, { token: fx.keys.amap });
  t.equal(printable.body, apiPrint.body, 'the same printable invoice as the API’s');
  t.match(printable.body, '@media print');

  for (const csv of ['lines.csv', 'usage.csv']) {
    const mine = await web('GET', `/app/sponsors/amap/invoices/${api[0].id}/${csv}`, { cookie });
    const theirs = await fx.svc.request('GET', `/v1/sponsors/amap/invoices/${api[0].id}/${csv}`, { token: fx.keys.amap });
    t.equal(mine.statusCode, 200);
    t.match(mine.headers['content-type'], /text\/csv/);
    t.equal(mine.headers['content-disposition'], theirs.headers['content-disposition']);
    t.equal(mine.body, theirs.body, `${csv}: byte for byte the API's export`);
  }
});

t.test('explain a charge: the raw record, the rule, the catalog version; others as "other payer"', async (t) => {
  const url = `/app/sponsors/qqmusic/explain?vin=${carA.vin}&seq=${SPLIT_RECORD.seq}&epoch=${SPLIT_RECORD.epoch}`;
  const cookie = await signIn(web, fx.keys.qqmusic);
  const page = (await web('GET', url, { cookie })).body;
  const api = (await fx.svc.request('GET', `/v1/vehicles/${carA.vin}/usage/${SPLIT_RECORD.seq}/explain?epoch=${SPLIT_RECORD.epoch}`, { token: fx.keys.qqmusic })).body;
  t.equal(textOf(page, 'rule-id'), api.ruleId);
  t.equal(api.ruleId, 'music/host/u.y.qq.com');
  t.equal(textOf(page, 'catalog-version'), fx.svc.service.catalogVersion);
  t.equal(textOf(page, 'explained-app'), 'music');
  t.same(dataAttributes(page, 'payer'), ['qqmusic', 'other']);
  t.same([...page.matchAll(/<tr[^>]* data-payer="([^"]+)" data-bytes="(\d+)"/g)].map((m) => [m[1], m[2]]), [['qqmusic', String(GIB)], ['other', '5']], 'its gigabyte; the 5 bytes beyond the cap as "other"');
  t.notMatch(page, 'oem-acme', 'the other payer is not named');
  t.notMatch(page, '8.00', 'nor its price');
  t.match(page, 'u.y.qq.com');
  t.match(page, groupDigits(String(Number(SPLIT_RECORD.bytes) - 1000)), 'down bytes of the raw record');

  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  const full = (await web('GET', url, { cookie: admin })).body;
  t.same(dataAttributes(full, 'payer'), ['qqmusic', 'oem-acme'], 'the admin sees every payer');

  const lower = (await web('GET', `/app/sponsors/qqmusic/explain?vin=${carA.vin.toLowerCase()}&seq=${SPLIT_RECORD.seq}&epoch=${SPLIT_RECORD.epoch}`, { cookie })).body;
  t.equal(textOf(lower, 'rule-id'), api.ruleId, 'a VIN typed in lower case is accepted');
  const bad = await web('GET', `/app/sponsors/qqmusic/explain?vin=${carA.vin.slice(0, -1)}X&seq=1`, { cookie });
  t.equal(bad.statusCode, 422);
  t.match(bad.body, 'id="explain-error"');
  t.equal((await web('GET', `/app/sponsors/qqmusic/explain?vin=${carA.vin}&seq=1e3`, { cookie })).statusCode, 422);
  t.equal((await web('GET', `/app/sponsors/qqmusic/explain?vin=${carA.vin}&seq=1&epoch=a%20b`, { cookie })).statusCode, 422);
  const form = await web('GET', '/app/sponsors/qqmusic/explain', { cookie });
  t.equal(form.statusCode, 200);
  t.match(form.body, 'id="explain-form"');
});

t.test('every visible string in both languages', async (t) => {
  const cookie = await signIn(web, fx.keys.amap);
  const zh = (await web('GET', '/app/sponsors/amap', { cookie: `${cookie}; tbx_lang=zh-CN` })).body;
  const en = (await web('GET', '/app/sponsors/amap', { cookie: `${cookie}; tbx_lang=en` })).body;
  t.match(zh, '<html lang="zh-CN">');
  t.match(zh, '本月累计');
  t.match(zh, '车队封顶使用率');
  t.match(en, '<html lang="en">');
  t.match(en, 'Cap utilisation across the fleet');
  const visible = (page: string) => page.replace(/<script[\s\S]*?<\/script>/g, '').replace(/<[^>]+>/g, ' ');
  for (const word of ['Dashboard', 'Invoices', 'Month to date', 'Traffic', 'Amount', 'Top vehicles', 'Log out', 'Sponsorship', 'Share']) {
    t.notMatch(visible(zh), word, `no English "${word}" on the Chinese page`);
  }
  for (const path of ['/app/sponsors/amap/invoices', '/app/sponsors/amap/explain']) {
    const zhPage = (await web('GET', path, { cookie: `${cookie}; tbx_lang=zh-CN` })).body;
    t.notMatch(visible(zhPage), /\b(Invoices|Explain|Number|Status|Period|Sequence)\b/, `${path} fully in Chinese`);
  }
  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  const adminZh = (await web('GET', '/app/admin', { cookie: `${admin}; tbx_lang=zh-CN` })).body;
  t.notMatch(visible(adminZh), /\b(Sponsors|Ingest health|Records accepted|Database)\b/);
  const t1 = translator('en');
  t.equal(t1('monthNotStarted', { month: '2027-01' }), 'Month 2027-01 has not started yet.');
});

t.test('months: a month not started yet is refused; navigation stops at the current month', async (t) => {
  const cookie = await signIn(web, fx.keys.amap);
  const now = await web('GET', '/app/sponsors/amap', { cookie });
  t.match(now.body, 'id="previous-month"');
  t.notMatch(now.body, 'id="next-month"', 'no next month: December has not started');
  t.equal((await web('GET', '/app/sponsors/amap?month=2026-12', { cookie })).statusCode, 422);
  t.equal((await web('GET', '/app/sponsors/amap?month=2026-13', { cookie })).statusCode, 422);
  t.equal((await web('GET', '/app/sponsors/amap?month=11-2026', { cookie })).statusCode, 422);
  const october = await web('GET', '/app/sponsors/amap?month=2026-10', { cookie });
  t.match(october.body, 'id="next-month"');
  const empty = await web('GET', '/app/sponsors/amap?month=2026-01', { cookie });
  t.equal(empty.statusCode, 200);
  t.match(empty.body, 'id="no-usage"');
});

t.test('the admin view: sponsors with their month to date, ingest health, dead letters', async (t) => {
  const device = await fx.svc.connectDevice(carB.vin, carB.deviceSecret);
  await device.publishAsync(`tbox/${carB.vin}/usage`, '{"v":1,"batch":9,"records":[{"seq":"<script>alert(1)</script>"}]}', { qos: 1 });
  await device.endAsync();
  const cookie = await signIn(web, TEST_ADMIN_TOKEN);
  const page = (await web('GET', '/app/admin', { cookie: `${cookie}; tbx_lang=en` })).body;
  for (const sponsor of ['amap', 'qqmusic', 'oem-acme', 'ximalaya']) {
    const api = (await fx.svc.request('GET', `/v1/sponsors/${sponsor}/usage?month=2026-11`)).body;
    t.match(page, `data-sponsor="${sponsor}" data-amount="${api.totalAmount}"`, `${sponsor}: month to date as the API says`);
  }
  t.match(page, /data-metric="records_accepted"><td>Records accepted<\/td><td class="num">\d+/);
  t.match(page, 'id="dead-letter-codes"');
  t.match(page, /<td class="mono">INVALID_RECORD<\/td><td class="num">\d+<\/td>/, 'the rejection, counted by code');
  const letters = (await web('GET', '/app/admin/dead-letters', { cookie })).body;
  t.match(letters, '&lt;script&gt;alert(1)&lt;/script&gt;', 'payloads are escaped');
  t.notMatch(letters, '<script>alert(1)</script>');
  const api = (await fx.svc.request('GET', '/v1/dead-letters?limit=100')).body;
  t.same(dataAttributes(letters, 'dead-letter'), api.deadLetters.map((d: any) => d.id));
  t.match(csrfOf(page), /^[A-Za-z0-9_-]{43}$/);
});

t.test('the top-vehicle ranking is shared for a minute, then read again; a failure is not kept', async (t) => {
  let queries = 0;
  let fail = false;
  const pool = {
    query: async () => {
      queries++;
      if (fail) throw new Error('db down');
      return { rows: [{ vin: 'V1', app: 'music', kind: 'sponsored', price: '5.0000', bytes: '1073741824', total: '1073741824' }] };
    },
  } as any;
  let now = 0;
  const top = createTopVehiclesCache(pool, () => now);
  const [a, b] = await Promise.all([top('qqmusic', '2026-11', 10), top('qqmusic', '2026-11', 10)]);
  t.equal(queries, 1, 'concurrent views share one query');
  t.same(a, [{ vin: 'V1', bytes: 1073741824n, apps: ['music'], amount: '5.00' }]);
  t.equal(a, b);
  now = TOP_VEHICLES_TTL_MS - 1;
  await top('qqmusic', '2026-11', 10);
  t.equal(queries, 1);
  await top('qqmusic', '2026-10', 10);
  t.equal(queries, 2, 'per month');
  now = TOP_VEHICLES_TTL_MS;
  fail = true;
  await t.rejects(top('qqmusic', '2026-11', 10));
  fail = false;
  await top('qqmusic', '2026-11', 10);
  t.equal(queries, 4, 'expired, then the failed read was not cached');
});

t.test('pure helpers: formats, escaping, language negotiation, return paths', async (t) => {
  t.equal(formatGb(0n), '0.000');
  t.equal(formatGb(GIB), '1.000');
  t.equal(formatGb(GIB * 1234n + GIB / 2n), '1,234.500');
  t.equal(formatGb(GIB - 1n), '0.999', 'truncated, as on the printable invoice');
  t.equal(formatGb(-GIB - 1n), '-1.000');
  t.equal(formatBytesExact(1_073_741_824n), '1,073,741,824');
  t.equal(formatMoney('1234567.8', 'CNY'), 'CNY 1,234,567.80');
  t.equal(formatMoney('-0.05', 'CNY'), 'CNY -0.05');
  t.throws(() => formatMoney('1.005', 'CNY'));
  t.equal(formatPrice('0.0125', 'CNY'), 'CNY 0.0125');
  t.equal(formatPercent(1n, 3n), '33.3 %');
  t.equal(formatPercent(2n, 3n), '66.7 %');
  t.equal(formatPercent(1n, 0n), '—');
  t.equal(escapeHtml(`<a href="x">'&`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;');
  t.equal(html`<p>${'<b>'}${html`<i>ok</i>`}${['<', html`>`]}${null}${false}</p>`.value, '<p>&lt;b&gt;<i>ok</i>&lt;></p>');
  t.equal(jsonScript('d', { s: '</script><script>' }).value, '<script type="application/json" id="d">{"s":"\\u003c/script>\\u003cscript>"}</script>');
  t.equal(languageFromAcceptLanguage('en-US,en;q=0.9'), 'en');
  t.equal(languageFromAcceptLanguage('zh-TW,zh;q=0.9,en;q=0.8'), 'zh-CN');
  t.equal(languageFromAcceptLanguage('fr-FR, en;q=0.5, zh;q=0.7'), 'zh-CN');
  t.equal(languageFromAcceptLanguage('de, en;q=0'), 'zh-CN', 'q=0 means "not this one"');
  t.equal(languageFromAcceptLanguage(undefined), 'zh-CN');
  t.equal(safeReturnPath('/app/sponsors/amap?month=2026-10', '/x'), '/app/sponsors/amap?month=2026-10');
  for (const bad of ['//evil', '/app//evil', 'https://evil/app', '/app\\x', '/v1/x', '/application', 42]) t.equal(safeReturnPath(bad, '/app'), '/app', `refused ${String(bad)}`);
});
