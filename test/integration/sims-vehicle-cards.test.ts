import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { inTestAt, loadSimTestWindows } from '../../src/sims/test-windows.js';
import { makeIccid, makeVin } from '../helpers/fixtures.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { createMerchant, importSims, order, residentId, simIccid, simRow, startSimStack } from './sims-support.js';

// Issue 10: a vehicle's card belongs to the platform, not to whoever imports it; the SIM swap of DESIGN 5.
// Each attack at the HTTP boundary, refused, with the database state before and after compared: no card,
// event, binding, subject or control changed.

const clock = manualClock(Date.parse('2026-06-10T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock });
const pool = svc.service.pool;
const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);

const q = async (sql: string, values: unknown[] = []) => (await pool.query(sql, values)).rows;
/** Everything an attack could change: cards, their trail, bindings, subjects, orders, controls. */
const snapshot = async () => ({
  sims: await q('SELECT iccid, merchant_id, imsi, state, state_changed_at, activated_at, service_until, holder_subject_id FROM sims ORDER BY iccid'),
  events: await q('SELECT id, iccid, event, to_state FROM sim_events ORDER BY id'),
  vehicles: await q('SELECT vin, iccid, owner_subject_id FROM vehicles ORDER BY vin'),
  history: await q('SELECT id, vin, iccid, valid_from, valid_to FROM vehicle_iccid_history ORDER BY id'),
  subjects: await q('SELECT id, iccid, status FROM realname_subjects ORDER BY id'),
  orders: await q('SELECT id, status FROM sim_orders ORDER BY id'),
  controls: await q('SELECT vin, app, reasons, rev FROM control_states ORDER BY vin, app'),
});
const controlsOf = async (vin: string) => {
  const vehicle = await svc.request('GET', `/v1/vehicles/${vin}`);
  return Object.fromEntries((vehicle.body.controls as Array<{ app: string; reasons: string[] }>).map((c) => [c.app, c.reasons]));
};
const swap = (vin: string, iccid: unknown, token?: string) => svc.request('PUT', `/v1/vehicles/${vin}/iccid`, { body: { iccid }, ...(token ? { token } : {}) });
const ok = async (response: Promise<{ status: number; body: unknown }>, status = 200) => {
  const r = await response;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r;
};

// A vehicle with a platform card (never assigned), and one whose card the admin assigned to shop-a, sold and activated.
const carFree = await svc.registerVehicle(1);
const carA = await svc.registerVehicle(2);
await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [2], '8986001');
await ok(order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'V-2', iccid: carA.iccid }), 201);
await ok(svc.request('POST', `/v1/sims/${carA.iccid}/activate`, { token: keyA }));
const [cardA] = await importSims(svc, 'shop-a', keyA, [10]);
const [cardB] = await importSims(svc, 'shop-b', keyB, [20]);

t.test('an admin assignment is what puts a vehicle card in a merchant’s inventory', async (t) => {
  const sim = await svc.request('GET', `/v1/sims/${carA.iccid}`, { token: keyA });
  t.equal(sim.body.vin, carA.vin);
  t.equal(sim.body.state, 'active');
  t.same((await controlsOf(carA.vin)).general, ['REALNAME_REQUIRED']);
  const events = await svc.request('GET', `/v1/sims/${carA.iccid}/events`, { token: keyA });
  t.match(events.body.events[0], { event: 'import', actor: 'admin', reason: `vehicle card of ${carA.vin} assigned to the merchant by the admin` });
});

t.test('a merchant cannot import a vehicle’s card, strict or partial, and the refusal never says who holds a card', async (t) => {
  const before = await snapshot();
  const attempts: Array<[string, Record<string, string>, 'iccid' | 'imsi' | 'msisdn']> = [
    ['a vehicle’s platform card', simRow(1, '8986001'), 'iccid'],
    ['a vehicle’s card assigned to another merchant', simRow(2, '8986001'), 'iccid'],
    ['another merchant’s ICCID', { ...simRow(900), iccid: cardA! }, 'iccid'],
    ['its own card again', simRow(20), 'iccid'],
    ['another merchant’s IMSI', { ...simRow(901), imsi: simRow(10).imsi }, 'imsi'],
    ['another merchant’s MSISDN', { ...simRow(902), msisdn: simRow(10).msisdn }, 'msisdn'],
  ];
  const byIccid: unknown[] = [];
  for (const [name, row, field] of attempts) {
    for (const query of ['', '?partial=true']) {
      const response = await svc.request('POST', `/v1/merchants/shop-b/sims${query}`, { token: keyB, body: { sims: [row] } });
      t.equal(response.status, 409, `${name}${query}: 409`);
      t.equal(response.body.error.code, 'SIM_UNAVAILABLE');
      t.same(response.body.rejected, [{ index: 0, field: `sims.0.${field}`, reason: 'is already on the platform', code: 'SIM_UNAVAILABLE' }], `${name}${query}: one generic problem`);
      if (field === 'iccid') byIccid.push({ query, body: response.body });
    }
  }
  const distinct = new Set(byIccid.map((b) => JSON.stringify(b)));
  t.equal(distinct.size, 2, 'a vehicle card, another merchant’s card and its own card get the very same answer (per mode)');
  t.same(await snapshot(), before, 'nothing changed');

  const sims = (merchant: string) => q('SELECT iccid FROM sims WHERE merchant_id = $1 ORDER BY iccid', [merchant]);
  const mixed = await svc.request('POST', '/v1/merchants/shop-b/sims?partial=true', { token: keyB, body: { sims: [simRow(903), simRow(1, '8986001')] } });
  t.equal(mixed.status, 201, 'partial: the good row is imported');
  t.equal(mixed.body.imported, 1);
  t.same(mixed.body.rejected, [{ index: 1, field: 'sims.1.iccid', reason: 'is already on the platform', code: 'SIM_UNAVAILABLE' }]);
  t.same(await sims('shop-b'), [{ iccid: simIccid(20) }, { iccid: simIccid(903) }].sort((a, b) => a.iccid.localeCompare(b.iccid)), 'never the vehicle’s card');
  const invalidToo = await svc.request('POST', '/v1/merchants/shop-b/sims', { token: keyB, body: { sims: [simRow(1, '8986001'), { ...simRow(904), imsi: '1' }] } });
  t.equal(invalidToo.status, 422, 'a file with an invalid row as well is bad input');
  t.same(
    invalidToo.body.rejected.map((r: { code: string }) => r.code),
    ['SIM_UNAVAILABLE', 'INVALID_INPUT'],
  );
});

t.test('no merchant can change a card it does not hold: 404, and nothing changes', async (t) => {
  const before = await snapshot();
  const attempts = (iccid: string, merchant: string): Array<['GET' | 'POST', string, unknown?]> => [
    ['GET', `/v1/sims/${iccid}`],
    ['GET', `/v1/sims/${iccid}/events`],
    ['POST', `/v1/sims/${iccid}/test`],
    ['POST', `/v1/sims/${iccid}/test/end`],
    ['POST', `/v1/sims/${iccid}/activate`],
    ['POST', `/v1/sims/${iccid}/suspend`],
    ['POST', `/v1/sims/${iccid}/resume`],
    ['POST', `/v1/sims/${iccid}/retire`],
    ['POST', `/v1/sims/${iccid}/recharges`, { externalOrderId: `R-${merchant}`, plan: 'iot-12m' }],
    ['POST', `/v1/sims/${iccid}/real-name`, { role: 'owner', type: 'individual', name: '王五', idNumber: residentId(5), livenessToken: 'pass-x' }],
    ['POST', `/v1/sims/${iccid}/real-name`, { type: 'individual', name: '王五', idNumber: residentId(5), livenessToken: 'pass-x' }],
    ['POST', '/v1/orders', { merchant, externalOrderId: `O-${merchant}`, iccid, plan: 'iot-12m', buyer: { name: '王五', phone: '13800000000' } }],
  ];
  const cases: Array<[string, string, string, string]> = [
    ['shop-b on a vehicle’s platform card', keyB, 'shop-b', carFree.iccid],
    ['shop-a on a vehicle’s platform card', keyA, 'shop-a', carFree.iccid],
    ['shop-b on the vehicle card assigned to shop-a', keyB, 'shop-b', carA.iccid],
    ['shop-b on shop-a’s card', keyB, 'shop-b', cardA!],
    ['shop-a on shop-b’s card', keyA, 'shop-a', cardB!],
  ];
  for (const [name, token, merchant, iccid] of cases) {
    for (const [method, url, body] of attempts(iccid, merchant)) {
      const response = await svc.request(method, url, { token, body });
      t.equal(response.status, 404, `${name}: ${method} ${url}`);
      t.equal(response.body.error.code, 'NOT_FOUND');
    }
  }
  t.same(await snapshot(), before, 'no card, event, subject, order or control changed');
  t.same((await controlsOf(carA.vin)).general, ['REALNAME_REQUIRED'], 'the car keeps its controls');
});

t.test('a merchant’s card cannot become a vehicle’s card by registration', async (t) => {
  const before = await snapshot();
  const response = await svc.request('POST', '/v1/vehicles', { body: { vin: makeVin(30), iccid: cardA, automaker: 'oem-acme', model: 'S1' } });
  t.equal(response.status, 409);
  t.equal(response.body.error.code, 'DUPLICATE_ICCID');
  t.same(await snapshot(), before);
  t.equal((await svc.request('GET', `/v1/vehicles/${makeVin(30)}`)).status, 404);
});

t.test('concurrent: an import and a registration of one card never both win; two imports of one card neither', async (t) => {
  const racing = await Promise.all(
    [100, 101, 102, 103, 104, 105, 106, 107].map(async (serial) => {
      const [imported, registered] = await Promise.all([
        svc.request('POST', '/v1/merchants/shop-b/sims', { token: keyB, body: { sims: [simRow(serial, '8986001')] } }),
        svc.request('POST', '/v1/vehicles', { body: { vin: makeVin(serial), iccid: makeIccid(serial), automaker: 'oem-acme', model: 'S1' } }),
      ]);
      return [imported.status, registered.status];
    }),
  );
  for (const [imported, registered] of racing) t.same([imported, registered].sort(), [201, 409], 'exactly one of import and registration');
  const both = await q('SELECT v.vin FROM vehicles v JOIN sims s ON s.iccid = v.iccid WHERE s.merchant_id = $1', ['shop-b']);
  t.same(both, [], 'shop-b holds no vehicle’s card');

  const twice = await Promise.all([
    svc.request('POST', '/v1/merchants/shop-a/sims', { token: keyA, body: { sims: [simRow(200)] } }),
    svc.request('POST', '/v1/merchants/shop-b/sims', { token: keyB, body: { sims: [{ ...simRow(201), iccid: simIccid(200), imsi: simRow(200).imsi }] } }),
    svc.request('POST', '/v1/merchants/shop-b/sims', { token: keyB, body: { sims: [{ ...simRow(202), imsi: simRow(200).imsi }] } }),
  ]);
  // Pairwise clashing rows (one ICCID, or one IMSI under different ICCIDs: the unique index decides those).
  t.equal(twice.filter((r) => r.status === 201).length, 1, 'one card, one holder');
  t.equal(twice.filter((r) => r.status === 409).length, 2);
});

t.test('SIM swap: the vehicle gets a free card; audited; history; the old card leaves the vehicle', async (t) => {
  // The vehicle user registers, then the card is suspended: both kinds of reason on the car before the swap.
  const owner = await svc.request('POST', `/v1/sims/${carA.iccid}/real-name`, { token: keyA, body: { role: 'owner', type: 'individual', name: '李四', idNumber: residentId(7, '19851111'), livenessToken: 'pass-owner' } });
  t.equal(owner.status, 200);
  await ok(svc.request('POST', `/v1/sims/${carA.iccid}/suspend`, { token: keyA }));
  t.ok((await controlsOf(carA.vin)).general?.includes('SIM_SUSPENDED'));
  const [{ owner_subject_id: ownerId }] = await q('SELECT owner_subject_id FROM vehicles WHERE vin = $1', [carA.vin]);
  t.ok(ownerId, 'the vehicle user is the vehicle’s');

  clock.set(Date.parse('2026-06-12T09:30:00+08:00'));
  const fresh = makeIccid(500);
  const swapped = await swap(carA.vin, fresh);
  t.equal(swapped.status, 200);
  t.equal(swapped.body.iccid, fresh);
  const read = await svc.request('GET', `/v1/vehicles/${carA.vin}`);
  t.same(swapped.body, read.body, 'the vehicle view, as GET /v1/vehicles/{vin}');
  const controls = await controlsOf(carA.vin);
  t.notOk(Object.values(controls).some((r) => (r as string[]).length > 0), 'the old card’s reasons left with it (the new card is the platform’s)');

  const history = await q('SELECT iccid, valid_from, valid_to, bound_by, unbound_by, reason FROM vehicle_iccid_history WHERE vin = $1 ORDER BY id', [carA.vin]);
  const at = new Date('2026-06-12T09:30:00+08:00');
  t.match(history, [
    { iccid: carA.iccid, valid_from: null, valid_to: at, bound_by: 'admin', unbound_by: 'admin' },
    { iccid: fresh, valid_from: at, valid_to: null, bound_by: 'admin', unbound_by: null, reason: `SIM swap ${carA.iccid} → ${fresh}` },
  ]);

  const old = await svc.request('GET', `/v1/sims/${carA.iccid}`, { token: keyA });
  t.equal(old.body.vin, null, 'the old card is no longer a vehicle card');
  t.equal(old.body.state, 'suspended', 'and keeps its state with its merchant');
  t.notOk(old.body.owner, 'nor an owner');
  const trail = await svc.request('GET', `/v1/sims/${carA.iccid}/events`, { token: keyA });
  t.match(trail.body.events.at(-1), { event: 'sim-swap', actor: 'admin', reason: `left vehicle ${carA.vin}: SIM swap ${carA.iccid} → ${fresh}`, at: '2026-06-12T09:30:00.000+08:00' });
  t.same(await q('SELECT owner_subject_id FROM vehicles WHERE vin = $1', [carA.vin]), [{ owner_subject_id: ownerId }], 'the vehicle user stays with the vehicle');
  const resume = await svc.request('POST', `/v1/sims/${carA.iccid}/resume`, { token: keyA });
  t.equal(resume.status, 200, 'the old card is an ordinary card of its merchant now');
  t.notOk((await controlsOf(carA.vin)).general?.length, 'and touches the car no more');

  const before = await snapshot();
  const again = await swap(carA.vin, fresh);
  t.equal(again.status, 200, 'the same ICCID again: idempotent');
  t.same(again.body, read.body);
  t.same(await snapshot(), before, 'no second audit row');
});

t.test('SIM swap refusals: 409 a card that is not free, 422 an invalid ICCID, 404 an unknown vehicle, 403 a merchant', async (t) => {
  const before = await snapshot();
  const taken: Array<[string, string]> = [
    ['bound to another vehicle', makeIccid(500)],
    ['a merchant’s card', cardA!],
    ['a vehicle’s old card, still its merchant’s', carA.iccid],
  ];
  for (const [name, iccid] of taken) {
    const response = await swap(carFree.vin, iccid);
    t.equal(response.status, 409, name);
    t.equal(response.body.error.code, 'DUPLICATE_ICCID');
  }
  for (const bad of ['1234567890123456789', makeIccid(600).slice(0, -1) + ((Number(makeIccid(600).at(-1)) + 1) % 10), 42]) {
    const response = await swap(carFree.vin, bad);
    t.equal(response.status, 422, `${bad}: 422`);
    t.equal(response.body.error.field, 'iccid');
  }
  const unknown = await swap(makeVin(9999), makeIccid(601));
  t.equal(unknown.status, 404);
  t.equal((await swap(carFree.vin, makeIccid(601), keyA)).status, 403, 'admin only');
  t.same(await snapshot(), before, 'nothing changed');

  const docs = await svc.request('GET', '/docs/json', { token: null });
  t.match(docs.body.paths['/v1/vehicles/{vin}/iccid']?.put?.summary, /SIM swap/);
});

t.test('after a swap the vehicle user follows the vehicle, and REALNAME_REQUIRED follows the rules of DESIGN 6', async (t) => {
  const fresh = makeIccid(500);
  await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [500], '8986001');
  const assigned = await svc.request('GET', `/v1/sims/${fresh}`, { token: keyA });
  t.equal(assigned.body.vin, carA.vin);
  t.equal(assigned.body.owner.status, 'verified', 'the user registered through the old card is the vehicle’s');
  t.equal(assigned.body.owner.name, '李*');
  await ok(order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'V-500', iccid: fresh }), 201);
  await ok(svc.request('POST', `/v1/sims/${fresh}/activate`, { token: keyA }));
  t.same((await controlsOf(carA.vin)).general, [], 'no REALNAME_REQUIRED: the owner is registered');
  const twice = await svc.request('POST', `/v1/sims/${fresh}/real-name`, { token: keyA, body: { role: 'owner', type: 'individual', name: '赵六', idNumber: residentId(8), livenessToken: 'pass-again' } });
  t.equal(twice.status, 409);
  t.equal(twice.body.error.code, 'REALNAME_ALREADY_VERIFIED');
  const oldOwner = await svc.request('POST', `/v1/sims/${carA.iccid}/real-name`, { token: keyA, body: { role: 'owner', type: 'individual', name: '赵六', idNumber: residentId(8), livenessToken: 'pass-old' } });
  t.equal(oldOwner.status, 422, 'the old card has no vehicle user any more');
  t.equal(oldOwner.body.error.field, 'role');

  const change = await svc.request('POST', `/v1/vehicles/${carA.vin}/owner-change`, { body: { reason: 'used-car sale' } });
  t.equal(change.status, 200);
  t.equal(change.body.owner.status, 'none');
  t.same((await controlsOf(carA.vin)).general, ['REALNAME_REQUIRED'], 'a used-car sale brings it back on the new card');
  const { rows } = await pool.query('SELECT status FROM realname_subjects WHERE role = $1 AND iccid = $2', ['owner', carA.iccid]);
  t.same(rows, [{ status: 'superseded' }], 'the registration made through the old card is superseded');

  // A car whose user never registered: in service → REALNAME_REQUIRED; after a swap and a new sale, again.
  const carC = await svc.registerVehicle(3);
  await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [3], '8986001');
  await ok(order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'V-3', iccid: carC.iccid }), 201);
  await ok(svc.request('POST', `/v1/sims/${carC.iccid}/activate`, { token: keyA }));
  t.same((await controlsOf(carC.vin)).general, ['REALNAME_REQUIRED']);
  await ok(swap(carC.vin, makeIccid(503)));
  t.same((await controlsOf(carC.vin)).general, [], 'a platform card imposes nothing');
  await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [503], '8986001');
  await ok(order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'V-503', iccid: makeIccid(503) }), 201);
  t.same((await controlsOf(carC.vin)).general, ['REALNAME_REQUIRED'], 'the new card in service, still no user: required again');

  // A used-car sale while the car has a platform card: the user (the vehicle's) is cleared all the same.
  const carE = await svc.registerVehicle(5);
  await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [5], '8986001');
  await ok(order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'V-5', iccid: carE.iccid }), 201);
  await ok(svc.request('POST', `/v1/sims/${carE.iccid}/real-name`, { token: keyA, body: { role: 'owner', type: 'individual', name: '孙七', idNumber: residentId(9), livenessToken: 'pass-e' } }));
  await ok(swap(carE.vin, makeIccid(505)));
  const sold = await svc.request('POST', `/v1/vehicles/${carE.vin}/owner-change`, { body: { reason: 'used-car sale' } });
  t.equal(sold.status, 200);
  t.same(sold.body, { vin: carE.vin, iccid: makeIccid(505), owner: { status: 'none', type: null, name: null, idNumber: null } });
  t.same(await q('SELECT owner_subject_id FROM vehicles WHERE vin = $1', [carE.vin]), [{ owner_subject_id: null }]);
  t.match((await svc.request('GET', `/v1/sims/${carE.iccid}/events`, { token: keyA })).body.events.at(-1), { event: 'owner-change', actor: 'admin', reason: `vehicle ${carE.vin}: used-car sale` });
  await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [505], '8986001');
  await ok(order(svc, keyA, { merchant: 'shop-a', externalOrderId: 'V-505', iccid: makeIccid(505) }), 201);
  t.same((await controlsOf(carE.vin)).general, ['REALNAME_REQUIRED'], 'the new user must register on the new card');

  const reconcile = await svc.service.app.simLifecycle!.runJobs();
  t.equal(reconcile.controlsReconciled, 0, 'the reconciliation job agrees with every car');
});

t.test('test windows stay with the card the vehicle had at the time', async (t) => {
  clock.set(Date.parse('2026-06-20T10:00:00+08:00'));
  const carD = await svc.registerVehicle(4);
  await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [4], '8986001');
  const t1 = clock.now();
  await ok(svc.request('POST', `/v1/sims/${carD.iccid}/test`, { token: keyA }));
  clock.advance(3_600_000);
  await ok(svc.request('POST', `/v1/sims/${carD.iccid}/test/end`, { token: keyA }));
  clock.advance(3_600_000);
  const swapAt = clock.now();
  await ok(swap(carD.vin, makeIccid(504)));
  clock.advance(3_600_000);
  await ok(svc.request('POST', `/v1/sims/${carD.iccid}/test`, { token: keyA }));
  clock.advance(3_600_000);
  await ok(svc.request('POST', `/v1/sims/${carD.iccid}/test/end`, { token: keyA }));
  const windows = (await loadSimTestWindows(pool, [carD.vin])).get(carD.vin);
  t.same(windows, [{ fromMs: t1, toMs: t1 + 3_600_000 }], 'the old card’s test before the swap counts; its test after it does not');
  t.notOk(inTestAt(windows, swapAt + 3_600_000 + 1));
});
