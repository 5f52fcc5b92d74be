import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { startTestService, TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { createMerchant, importSims, residentId, simIccid, startSimStack, uscc } from './sims-support.js';

// DESIGN 5/6: merchant keys see only their own merchant (403 on another merchant's top-level path, 404 for
// its cards and orders); personal data is encrypted at rest, masked in every answer, never logged, and
// unmasked only through an audited admin endpoint; PII_KEY_PREVIOUS lets a rotated key read and re-encrypt.

const oldKey = randomBytes(32).toString('base64');
const { svc } = await startSimStack(t, { env: { PII_KEY: oldKey } });
const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const sponsorKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;

const PERSON = { name: '欧阳小明', idNumber: residentId(888, '19881212'), phone: '13912345678' };
const OWNER = { name: '司马光', idNumber: residentId(889, '19660606') };
const AGENT = { name: '诸葛亮', idNumber: residentId(890, '19720202') };
const secrets = [PERSON.name, PERSON.idNumber, PERSON.phone, OWNER.name, OWNER.idNumber, AGENT.name, AGENT.idNumber];

const answers: string[] = [];
const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, options: { body?: unknown; token?: string | null } = {}) => {
  const response = await svc.request(method, url, options);
  answers.push(JSON.stringify(response.body));
  return response;
};

const [cardA, cardA2, cardEnterprise] = await importSims(svc, 'shop-a', keyA, [1, 2, 3]);
// A vehicle card is bound at production, then the admin assigns it to the merchant (src/sims/README.md).
const car = await svc.registerVehicle(77);
const [vehicleCard] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [77], '8986001');
const [cardB] = await importSims(svc, 'shop-b', keyB, [50]);

t.test('the merchant flows, with personal data', async (t) => {
  t.equal((await call('POST', '/v1/orders', { token: keyA, body: { merchant: 'shop-a', externalOrderId: 'X-1', iccid: cardA, plan: 'iot-12m', buyer: { name: PERSON.name, phone: PERSON.phone } } })).status, 201);
  t.equal((await call('POST', `/v1/sims/${cardA}/real-name`, { token: keyA, body: { type: 'individual', name: PERSON.name, idNumber: PERSON.idNumber, livenessToken: 'pass-1' } })).status, 200);
  t.equal((await call('POST', `/v1/sims/${cardA}/activate`, { token: keyA })).status, 200);
  t.equal((await call('POST', '/v1/orders', { token: keyA, body: { merchant: 'shop-a', externalOrderId: 'X-2', iccid: cardEnterprise, plan: 'iot-12m', buyer: { name: AGENT.name, phone: PERSON.phone } } })).status, 201);
  t.equal((await call('POST', `/v1/sims/${cardEnterprise}/real-name`, { token: keyA, body: { type: 'enterprise', name: '蜀汉物流有限公司', uscc: uscc(9), agent: AGENT } })).status, 200);
  t.equal((await call('POST', '/v1/orders', { token: keyA, body: { merchant: 'shop-a', externalOrderId: 'X-3', iccid: vehicleCard, plan: 'iot-12m', buyer: { name: OWNER.name, phone: PERSON.phone } } })).status, 201);
  t.equal((await call('POST', `/v1/sims/${vehicleCard}/activate`, { token: keyA })).status, 200);
  t.equal((await call('POST', `/v1/sims/${vehicleCard}/real-name`, { token: keyA, body: { role: 'owner', type: 'individual', ...OWNER, livenessToken: 'pass-2' } })).status, 200);
  t.equal((await call('POST', `/v1/sims/${cardA2}/real-name`, { token: keyA, body: { type: 'individual', name: PERSON.name, idNumber: PERSON.idNumber.slice(0, 17) + (PERSON.idNumber.endsWith('1') ? '2' : '1'), livenessToken: 'pass-3' } })).status, 422);
  t.equal((await call('POST', '/v1/orders', { token: keyB, body: { merchant: 'shop-b', externalOrderId: 'X-1', iccid: cardB, plan: 'iot-12m', buyer: { name: PERSON.name, phone: PERSON.phone } } })).status, 201, 'order ids are per merchant');
  for (const iccid of [cardA, cardEnterprise, vehicleCard]) await call('GET', `/v1/sims/${iccid}`, { token: keyA });
  await call('GET', '/v1/merchants/shop-a/orders?month=' + new Date().toISOString().slice(0, 7), { token: keyA });
  await call('GET', '/v1/merchants/shop-a/einvoices?month=' + new Date().toISOString().slice(0, 7), { token: keyA });
  await call('GET', '/v1/merchants/shop-a/sims', { token: keyA });
  const sim = await call('GET', `/v1/sims/${cardA}`, { token: keyA });
  t.equal(sim.body.realName.name, '欧**明');
  t.equal(sim.body.msisdn, '146******0001');
});

t.test('403 on another merchant’s top-level paths, for every merchant path', async (t) => {
  const month = new Date().toISOString().slice(0, 7);
  const paths: Array<['GET' | 'POST', string, unknown?]> = [
    ['GET', '/v1/merchants/shop-a'],
    ['POST', '/v1/merchants/shop-a/sims', { sims: [{ iccid: cardB, imsi: '460000000000001', msisdn: '14400000001' }] }],
    ['GET', '/v1/merchants/shop-a/sims'],
    ['GET', `/v1/merchants/shop-a/orders?month=${month}`],
    ['GET', `/v1/merchants/shop-a/settlements?month=${month}`],
    ['GET', `/v1/merchants/shop-a/einvoices?month=${month}`],
  ];
  for (const [method, url, body] of paths) {
    t.equal((await call(method, url, { token: keyB, body })).status, 403, `B: ${method} ${url}`);
    t.equal((await call(method, url, { token: sponsorKey, body })).status, 403, `sponsor: ${method} ${url}`);
    t.equal((await call(method, url, { token: null, body })).status, 401, `anonymous: ${method} ${url}`);
    if (method === 'GET') t.equal((await call(method, url, { token: keyA })).status, 200, `A: ${method} ${url}`);
  }
  for (const [method, url] of [
    ['POST', '/v1/merchants'],
    ['GET', '/v1/merchants'],
    ['POST', '/v1/merchants/shop-a/keys'],
    ['GET', '/v1/merchants/shop-a/keys'],
    ['POST', `/v1/sims/${cardA}/personal-data/reveal`],
    ['GET', '/v1/personal-data/access-log'],
    ['POST', '/v1/personal-data/reencrypt'],
    ['POST', `/v1/vehicles/${car.vin}/owner-change`],
    ['POST', '/v1/jobs/sim-lifecycle'],
  ] as const) {
    t.equal((await call(method, url, { token: keyA, body: { reason: 'curious', id: 'x-y', name: 'n', taxId: uscc(5) } })).status, 403, `admin only: ${method} ${url}`);
  }
  const crossOrder = await call('POST', '/v1/orders', { token: keyB, body: { merchant: 'shop-a', externalOrderId: 'B-1', iccid: cardA2, plan: 'iot-12m', buyer: { name: '张三', phone: '13800000000' } } });
  t.equal(crossOrder.status, 403, 'B cannot order for A');
});

t.test('404 for A’s cards, orders and invoices under B’s key', async (t) => {
  const invoiceId = (await call('GET', '/v1/orders/X-1', { token: keyA })).body.einvoices[0].id as string;
  const objects: Array<['GET' | 'POST', string, unknown?]> = [
    ['GET', `/v1/sims/${cardA}`],
    ['GET', `/v1/sims/${cardA}/events`],
    ['POST', `/v1/sims/${cardA2}/test`],
    ['POST', `/v1/sims/${cardA2}/test/end`],
    ['POST', `/v1/sims/${cardA}/activate`],
    ['POST', `/v1/sims/${cardA}/suspend`],
    ['POST', `/v1/sims/${cardA}/resume`],
    ['POST', `/v1/sims/${cardA}/retire`],
    ['POST', `/v1/sims/${cardA2}/real-name`, { type: 'individual', name: '张三', idNumber: residentId(1), livenessToken: 'pass' }],
    ['POST', `/v1/sims/${cardA}/recharges`, { externalOrderId: 'B-R', plan: 'iot-12m' }],
    ['GET', '/v1/orders/X-2'],
    ['POST', '/v1/orders/X-2/refund'],
    ['POST', `/v1/einvoices/${invoiceId}/retry`],
    ['POST', '/v1/orders', { merchant: 'shop-b', externalOrderId: 'B-2', iccid: cardA2, plan: 'iot-12m', buyer: { name: '张三', phone: '13800000000' } }],
  ];
  for (const [method, url, body] of objects) {
    const response = await call(method, url, { token: keyB, body });
    t.equal(response.status, 404, `B: ${method} ${url}`);
    t.equal(response.body.error.code, 'NOT_FOUND');
  }
  const own = await call('GET', '/v1/orders/X-1', { token: keyB });
  t.equal(own.body.iccid, cardB, 'B sees its own X-1, not A’s');
  t.equal((await call('GET', `/v1/sims/${cardA}`, { token: sponsorKey })).status, 403, 'a sponsor key is not a merchant key');
  t.equal((await call('GET', '/v1/orders/X-1')).status, 422, 'the admin must say whose X-1');
  t.equal((await call('GET', '/v1/orders/X-1?merchant=shop-a')).body.iccid, cardA);
  t.equal((await call('GET', `/v1/sims/${cardA}`, { token: keyA })).body.state, 'active', 'nothing B tried changed A’s card');
});

t.test('personal data: never logged, never unmasked in answers, encrypted at rest', async (t) => {
  const logs = svc.rawLogs();
  t.ok(logs.length > 0);
  for (const secret of secrets) {
    t.notOk(logs.includes(secret), `not in the logs: ${secret.slice(0, 2)}…`);
    t.notOk(answers.some((a) => a.includes(secret)), `not in any answer: ${secret.slice(0, 2)}…`);
  }
  const client = new pg.Client({ connectionString: (svc.service.pool as unknown as { options: { connectionString: string } }).options.connectionString });
  await client.connect();
  t.teardown(() => client.end());
  for (const table of ['sims', 'realname_subjects', 'sim_orders', 'einvoices']) {
    const { rows } = await client.query(`SELECT * FROM ${table}`);
    const text = JSON.stringify(rows);
    for (const secret of secrets) t.notOk(text.includes(secret), `${table} holds no plaintext`);
  }
  const { rows } = await client.query<{ name_enc: string }>('SELECT name_enc FROM realname_subjects');
  for (const row of rows) t.match(row.name_enc, /^pii1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/, 'a key id on every ciphertext');
});

t.test('the audited reveal', async (t) => {
  const short = await call('POST', `/v1/sims/${cardA}/personal-data/reveal`, { body: {} });
  t.equal(short.status, 422, 'a reason is required');
  const revealed = await svc.request('POST', `/v1/sims/${cardA}/personal-data/reveal`, { body: { reason: 'police request #2026-17' } });
  t.equal(revealed.status, 200);
  t.equal(revealed.body.holder.name, PERSON.name);
  t.equal(revealed.body.holder.idNumber, PERSON.idNumber);
  t.same(revealed.body.buyers, [{ externalOrderId: 'X-1', name: PERSON.name, phone: PERSON.phone }]);
  const enterprise = await svc.request('POST', `/v1/sims/${cardEnterprise}/personal-data/reveal`, { body: { reason: 'tax audit' } });
  t.same(enterprise.body.holder.agent, AGENT);
  const vehicle = await svc.request('POST', `/v1/sims/${vehicleCard}/personal-data/reveal`, { body: { reason: 'owner dispute' } });
  t.equal(vehicle.body.owner.idNumber, OWNER.idNumber);
  const log = await call('GET', `/v1/personal-data/access-log?iccid=${cardA}`);
  t.equal(log.body.entries.length, 1);
  t.match(log.body.entries[0], { actor: 'admin', iccid: cardA, reason: 'police request #2026-17', fields: ['msisdn', 'holder', 'owner', 'buyers'] });
  t.ok(log.body.entries[0].requestId);
  for (const secret of secrets) t.notOk(svc.rawLogs().includes(secret), 'the reveal is not logged with its data');
});

t.test('key rotation: PII_KEY_PREVIOUS reads old ciphertexts and re-encryption moves them', async (t) => {
  const databaseUrl = (svc.service.pool as unknown as { options: { connectionString: string } }).options.connectionString;
  const newKey = randomBytes(32).toString('base64');
  // A webhook signing secret is encrypted with the same vault (src/webhooks/README.md).
  const endpoint = await svc.request('POST', '/v1/merchants/shop-a/webhooks', { token: keyA, body: { url: 'https://hooks.example.com/shop-a', eventTypes: ['alert.triggered'] } });
  t.equal(endpoint.status, 201);
  const rotated = await startTestService(t, { DATABASE_URL: databaseUrl, PII_KEY: newKey, PII_KEY_PREVIOUS: oldKey, REALNAME_URL: 'http://127.0.0.1:9', EINVOICE_URL: 'http://127.0.0.1:9' });
  const sim = await rotated.request('GET', `/v1/sims/${cardA}`);
  t.equal(sim.body.realName.name, '欧**明', 'old ciphertexts still decrypt');
  await rotated.request('POST', '/v1/personal-data/reencrypt');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  t.teardown(() => client.end());
  const kids = await client.query<{ kid: string }>(
    `SELECT DISTINCT split_part(v, '.', 2) AS kid FROM (
       SELECT msisdn_enc AS v FROM sims UNION ALL SELECT name_enc FROM realname_subjects UNION ALL SELECT id_number_enc FROM realname_subjects
       UNION ALL SELECT buyer_name_enc FROM sim_orders UNION ALL SELECT buyer_phone_enc FROM sim_orders UNION ALL SELECT buyer_name_enc FROM einvoices
       UNION ALL SELECT secret FROM webhook_endpoints) x`,
  );
  t.equal(kids.rows.length, 1, 'one key id left');
  const onlyNew = await startTestService(t, { DATABASE_URL: databaseUrl, PII_KEY: newKey, REALNAME_URL: 'http://127.0.0.1:9', EINVOICE_URL: 'http://127.0.0.1:9' });
  t.equal((await onlyNew.request('GET', `/v1/sims/${vehicleCard}`)).body.owner.name, '司*光', 'readable without the previous key');
  const replay = await onlyNew.request('POST', '/v1/orders', { body: { merchant: 'shop-a', externalOrderId: 'X-1', iccid: cardA, plan: 'iot-12m', buyer: { name: PERSON.name, phone: PERSON.phone } } });
  t.equal(replay.status, 200, 'idempotency digests were re-keyed too');
  const dup = await onlyNew.request('POST', '/v1/merchants/shop-a/sims', { body: { sims: [{ iccid: simIccid(9999), imsi: '460619999999999', msisdn: '1461000000001' }] } });
  t.equal(dup.status, 409);
  t.match(JSON.stringify(dup.body.rejected), /msisdn/, 'MSISDN lookup hashes were re-keyed');
});
