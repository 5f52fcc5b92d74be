import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestService } from '../helpers/service.js';

/** DESIGN 4: a catalog may not drop what the ledger references, nor change timezone or currency once it has rows. */
const url = await createTestDatabase(t);
const base = await mkdtemp(path.join(tmpdir(), 'catalog-'));
t.teardown(() => rm(base, { recursive: true, force: true }));

async function variant(name: string, edit: (files: Record<string, string>) => void): Promise<string> {
  const dir = path.join(base, name);
  await cp(path.join(PROJECT_ROOT, 'sponsors'), dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const file of ['00-billing.yaml', '30-sponsorships.yaml']) files[file] = await readFile(path.join(dir, file), 'utf8');
  edit(files);
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
  return dir;
}

t.test('a catalog that removes a referenced sponsorship or changes the timezone is refused', async (t) => {
  const first = await startTestService(t, { DATABASE_URL: url });
  const car = await first.registerVehicle(1);
  const device = await first.connectDevice(car.vin, car.deviceSecret);
  const record = { seq: 1, start: '2026-11-03T08:15:00+08:00', end: '2026-11-03T08:16:00+08:00', up: 10, down: 20, host: 'tile.amap.com' };
  await device.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records: [record] }), { qos: 1 });
  await device.endAsync();
  await first.service.stop();

  const withoutNav = await variant('without-nav', (f) => {
    f['30-sponsorships.yaml'] = f['30-sponsorships.yaml']!.replace(/ {2}- id: amap-nav-acme[\s\S]*?(?=\n {2}#|\n {2}- id:)/, '');
  });
  await t.rejects(startTestService(t, { DATABASE_URL: url, CATALOG_DIR: withoutNav }), /sponsorships: "amap-nav-acme" was removed but the ledger references it/);

  const otherZone = await variant('other-zone', (f) => {
    f['00-billing.yaml'] = f['00-billing.yaml']!.replace('timezone: Asia/Shanghai', 'timezone: Asia/Tokyo');
  });
  await t.rejects(startTestService(t, { DATABASE_URL: url, CATALOG_DIR: otherZone }), /billing.timezone: changed from "Asia\/Shanghai" to "Asia\/Tokyo"/);

  const again = await startTestService(t, { DATABASE_URL: url });
  t.ok(again.service.catalogVersion, 'the catalog in use still starts');
});
