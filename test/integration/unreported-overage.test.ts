import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { manualClock, startTestService, TEST_ADMIN_TOKEN } from '../helpers/service.js';

// Issue 13, `billing.unreported: overage`: the unexplained bytes of a closed month are invoiced to the
// vehicle's overage payer (demo catalog: oem-acme at 8.00 per GiB) as lines of kind `unreported`, rated
// cumulatively like every adjustment; a carrier correction afterwards is credited at the next close.

const catalogDir = await mkdtemp(path.join(tmpdir(), 'catalog-unreported-'));
t.teardown(() => rm(catalogDir, { recursive: true, force: true }));
await cp(path.join(PROJECT_ROOT, 'sponsors'), catalogDir, { recursive: true });
const billingFile = path.join(catalogDir, '00-billing.yaml');
await writeFile(billingFile, (await readFile(billingFile, 'utf8')).replace('  maxLateDays: 400', '  maxLateDays: 400\n  unreported: overage'));

const clock = manualClock(Date.parse('2026-12-03T10:00:00+08:00'));
const svc = await startTestService(t, { CATALOG_DIR: catalogDir }, clock);
const car = await svc.registerVehicle(501);
const REPORTED = 100_000_000n;
const GIB = 1n << 30n;

async function carrierFile(fileId: string, bytes: bigint) {
  const response = await svc.service.app.inject({
    method: 'POST',
    url: '/v1/carrier-usage',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'text/csv', 'x-file-id': fileId },
    payload: `iccid,date,bytes\n${car.iccid},2026-11-10,${bytes}\n`,
  });
  if (response.statusCode !== 200) throw new Error(response.body);
}

t.test('a closed month invoices its unexplained bytes to the overage payer', async (t) => {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  const record = { seq: 1, start: '2026-11-10T10:00:00+08:00', end: '2026-11-10T10:01:00+08:00', up: 0, down: Number(REPORTED), host: 'telemetry.acme-motor.cn', port: 443 };
  await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records: [record] }), { qos: 1 });
  await client.endAsync();
  await carrierFile('nov-10', REPORTED + GIB);
  const reconciliation = await svc.request('GET', '/v1/reconciliation?month=2026-11');
  t.equal(reconciliation.body.totals.all.unexplainedBytes, Number(GIB));

  const close = await svc.request('POST', '/v1/billing/periods/2026-11/close');
  t.equal(close.status, 200, JSON.stringify(close.body));
  const invoices = (await svc.request('GET', '/v1/sponsors/oem-acme/invoices')).body.invoices;
  t.equal(invoices.length, 1);
  t.match(
    invoices[0].lines.find((l: { kind: string }) => l.kind === 'unreported'),
    { app: 'unreported', kind: 'unreported', usageMonth: '2026-11', bytes: Number(GIB), pricePerGiB: '8.00', amount: '8.00', tax: '0.48' },
  );
  t.ok(invoices[0].lines.some((l: { kind: string; app: string }) => l.kind === 'sponsored' && l.app === 'telemetry'), 'the reported bytes are billed as before');
});

t.test('a carrier correction after the close is credited at the next close', async (t) => {
  await carrierFile('nov-10-v2', REPORTED + GIB / 2n);
  clock.set(Date.parse('2027-01-05T10:00:00+08:00'));
  const close = await svc.request('POST', '/v1/billing/periods/2026-12/close');
  t.equal(close.status, 200);
  const invoices = (await svc.request('GET', '/v1/sponsors/oem-acme/invoices')).body.invoices;
  const december = invoices.find((i: { month: string }) => i.month === '2026-12');
  t.match(december?.lines, [{ app: 'unreported', kind: 'unreported', usageMonth: '2026-11', bytes: -Number(GIB / 2n), amount: '-4.00' }], 'the adjustment line takes back half');
  t.equal((await svc.request('POST', '/v1/billing/periods/2026-12/close')).status, 200, 'closing again changes nothing');
  t.equal((await svc.request('GET', '/v1/sponsors/oem-acme/invoices')).body.invoices.length, 2);
});
