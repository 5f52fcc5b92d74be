import t from 'tap';
import { createMerchant, simIccid, simRow, startSimStack, uscc } from './sims-support.js';

// DESIGN 6: merchants (admin-created, with keys) and the all-or-nothing inventory import.

const { svc } = await startSimStack(t);

t.test('merchants are created by the admin, once', async (t) => {
  const created = await svc.request('POST', '/v1/merchants', { body: { id: 'shop-m', name: '某某网店', taxId: uscc(5) } });
  t.equal(created.status, 201);
  t.match(created.body, { id: 'shop-m', name: '某某网店', taxId: uscc(5) });
  const again = await svc.request('POST', '/v1/merchants', { body: { id: 'shop-m', name: 'other', taxId: uscc(6) } });
  t.equal(again.status, 409);
  t.equal(again.body.error.code, 'DUPLICATE_MERCHANT');
  for (const [body, field] of [
    [{ id: 'Shop M', name: 'x', taxId: uscc(5) }, 'id'],
    [{ id: 'shop-n', name: '', taxId: uscc(5) }, 'name'],
    [{ id: 'shop-n', name: 'x' }, 'taxId'],
  ] as const) {
    const response = await svc.request('POST', '/v1/merchants', { body });
    t.equal(response.status, 422);
    t.equal(response.body.error.field, field);
  }
  t.same((await svc.request('GET', '/v1/merchants')).body.merchants.map((m: { id: string }) => m.id), ['shop-m']);
  t.equal((await svc.request('GET', '/v1/merchants/nobody')).status, 404);
  t.equal((await svc.request('POST', '/v1/merchants/nobody/keys')).status, 404);
});

t.test('merchant keys: shown once, listed, revoked', async (t) => {
  const key = await svc.request('POST', '/v1/merchants/shop-m/keys');
  t.equal(key.status, 201);
  t.match(key.body.key, /^sk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  t.equal((await svc.request('GET', '/v1/merchants/shop-m', { token: key.body.key })).status, 200);
  const listed = await svc.request('GET', '/v1/merchants/shop-m/keys');
  t.equal(listed.body.keys.length, 1);
  t.notOk(JSON.stringify(listed.body).includes(key.body.key.split('_').slice(2).join('_')), 'the secret is never listed');
  t.equal((await svc.request('DELETE', `/v1/merchants/shop-m/keys/${key.body.keyId}`)).status, 204);
  t.equal((await svc.request('GET', '/v1/merchants/shop-m', { token: key.body.key })).status, 401, 'a revoked key is no key');
  t.equal((await svc.request('DELETE', '/v1/merchants/shop-m/keys/0123456789abcdef')).status, 404);
});

t.test('an import with bad rows reports every one and imports none, unless ?partial=true', async (t) => {
  const key = await createMerchant(svc, 'shop-n', 7);
  const file = [
    simRow(1),
    { ...simRow(2), iccid: simIccid(2).slice(0, 19) + ((Number(simIccid(2)[19]) + 1) % 10) },
    { ...simRow(3), imsi: '46001' },
    { ...simRow(4), msisdn: undefined },
    'not a row',
    { ...simRow(5), imsi: simRow(1).imsi },
    simRow(6),
    { iccid: 42, imsi: null },
  ];
  const refused = await svc.request('POST', '/v1/merchants/shop-n/sims', { token: key, body: { sims: file } });
  t.equal(refused.status, 422);
  t.equal(refused.body.error.code, 'INVALID_INPUT');
  t.equal(refused.body.error.field, 'sims.1.iccid', 'the first bad field');
  t.same(
    refused.body.rejected.map((r: { index: number; field: string }) => r.field),
    ['sims.1.iccid', 'sims.2.imsi', 'sims.3.msisdn', 'sims.4', 'sims.5.imsi', 'sims.7.iccid', 'sims.7.imsi', 'sims.7.msisdn'],
  );
  t.match(refused.body.rejected[4].reason, /duplicates row 0/);
  t.same((await svc.request('GET', '/v1/merchants/shop-n/sims', { token: key })).body.sims, [], 'nothing imported');

  const partial = await svc.request('POST', '/v1/merchants/shop-n/sims?partial=true', { token: key, body: { sims: file } });
  t.equal(partial.status, 201);
  t.equal(partial.body.imported, 2);
  t.equal(partial.body.rejected.length, 8);
  const listed = await svc.request('GET', '/v1/merchants/shop-n/sims?limit=1', { token: key });
  t.equal(listed.body.sims.length, 1);
  t.equal(listed.body.sims[0].state, 'inventory');
  t.match(listed.body.sims[0].msisdn, /^146\*+\d{4}$/, 'MSISDN masked');
  const next = await svc.request('GET', `/v1/merchants/shop-n/sims?limit=1&cursor=${listed.body.nextCursor}`, { token: key });
  t.equal(next.body.sims[0].iccid, simIccid(6));
  t.equal(next.body.nextCursor, null);

  const again = await svc.request('POST', '/v1/merchants/shop-n/sims', { token: key, body: { sims: [simRow(1), simRow(6)] } });
  t.equal(again.status, 409, 'cards already on the platform');
  t.equal(again.body.error.code, 'SIM_UNAVAILABLE');
  t.same(again.body.rejected.map((r: { reason: string }) => r.reason), ['is already on the platform', 'is already on the platform']);
  const elsewhere = await svc.request('POST', '/v1/merchants/shop-m/sims', { body: { sims: [{ ...simRow(9), msisdn: simRow(6).msisdn }] } });
  t.equal(elsewhere.status, 409, 'an MSISDN belongs to one card platform-wide');
  t.equal(elsewhere.body.rejected[0].field, 'sims.0.msisdn');

  const events = await svc.request('GET', `/v1/sims/${simIccid(1)}/events`, { token: key });
  t.match(events.body.events, [{ event: 'import', from: null, to: 'inventory', actor: /^merchant:shop-n/ }]);
});

t.test('plans and the OpenAPI', async (t) => {
  const plans = await svc.request('GET', '/v1/plans');
  t.same(plans.body.plans.find((p: { id: string }) => p.id === 'iot-12m'), { id: 'iot-12m', termMonths: 12, pack: null, monthlyPack: 'vehicle-500m', wholesale: '30.00', retail: '48.00', taxRate: '0.06' });
  const docs = await svc.request('GET', '/docs/json', { token: null });
  for (const path of [
    '/v1/merchants',
    '/v1/merchants/{id}/keys',
    '/v1/merchants/{id}/sims',
    '/v1/merchants/{id}/settlements',
    '/v1/merchants/{id}/einvoices',
    '/v1/sims/{iccid}',
    '/v1/sims/{iccid}/real-name',
    '/v1/sims/{iccid}/activate',
    '/v1/sims/{iccid}/recharges',
    '/v1/orders',
    '/v1/orders/{externalOrderId}/refund',
    '/v1/vehicles/{vin}/owner-change',
    '/v1/sims/{iccid}/personal-data/reveal',
  ]) {
    t.ok(docs.body.paths[path], `OpenAPI lists ${path}`);
  }
});
