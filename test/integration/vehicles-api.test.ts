import t from 'tap';
import { startTestService } from '../helpers/service.js';
import { makeIccid, makeVin } from '../helpers/fixtures.js';

const svc = await startTestService(t);
const valid = { vin: makeVin(42), iccid: makeIccid(42), automaker: 'oem-acme', model: 'S1' };

t.test('401 without a valid token, on every vehicle route', async (t) => {
  for (const [method, url] of [
    ['POST', '/v1/vehicles'],
    ['GET', `/v1/vehicles/${valid.vin}`],
    ['POST', `/v1/vehicles/${valid.vin}/activate`],
    ['POST', `/v1/vehicles/${valid.vin}/secret`],
  ] as const) {
    for (const token of [null, 'not-the-token', '']) {
      const response = await svc.request(method, url, { token, body: valid });
      t.equal(response.status, 401, `${method} ${url} with ${token === null ? 'no' : 'a bad'} token`);
      t.equal(response.body.error.code, 'UNAUTHORIZED');
    }
  }
});

t.test('register returns the secret once; the vehicle reads back without it', async (t) => {
  const created = await svc.request('POST', '/v1/vehicles', { body: { ...valid, activatedAt: '2026-03-01T00:00:00.123456+08:00' } });
  t.equal(created.status, 201);
  t.equal(created.body.vin, valid.vin);
  t.match(created.body.deviceSecret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  const read = await svc.request('GET', `/v1/vehicles/${valid.vin}`);
  t.equal(read.status, 200);
  t.same(read.body, { vin: valid.vin, iccid: valid.iccid, automaker: 'oem-acme', model: 'S1', activatedAt: '2026-02-28T16:00:00.123Z', createdAt: read.body.createdAt, packs: [], controls: [] });
  t.notOk(JSON.stringify(read.body).includes(created.body.deviceSecret), 'secret not returned again');
  t.notOk(svc.rawLogs().includes(created.body.deviceSecret), 'secret never logged');
  t.notOk(svc.rawLogs().includes('test-admin-token'), 'admin token never logged');

  const duplicate = await svc.request('POST', '/v1/vehicles', { body: { ...valid, iccid: makeIccid(43) } });
  t.equal(duplicate.status, 409);
  t.equal(duplicate.body.error.code, 'DUPLICATE_VIN');
  const sameIccid = await svc.request('POST', '/v1/vehicles', { body: { ...valid, vin: makeVin(44) } });
  t.equal(sameIccid.status, 409);
});

t.test('422 names the field', async (t) => {
  const badCheckDigit = valid.vin.slice(0, 8) + (valid.vin[8] === '0' ? '1' : '0') + valid.vin.slice(9);
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['bad VIN check digit', { vin: badCheckDigit }, 'vin'],
    ['VIN with I/O/Q', { vin: 'IOQAU2180N2000001' }, 'vin'],
    ['VIN too short', { vin: 'LSVAU218' }, 'vin'],
    ['bad ICCID Luhn', { iccid: valid.iccid.slice(0, -1) + ((Number(valid.iccid.at(-1)) + 1) % 10) }, 'iccid'],
    ['ICCID not starting 89', { iccid: '1234567890123456789' }, 'iccid'],
    ['unknown automaker', { automaker: 'oem-nobody' }, 'automaker'],
    ['a map vendor is not an automaker', { automaker: 'amap' }, 'automaker'],
    ['timestamp without offset', { activatedAt: '2026-03-01T00:00:00' }, 'activatedAt'],
    ['impossible timestamp', { activatedAt: '2026-02-30T00:00:00Z' }, 'activatedAt'],
    ['missing model', { model: undefined }, 'model'],
    ['wrong type', { vin: 12345 }, 'vin'],
  ];
  for (const [name, patch, field] of cases) {
    const response = await svc.request('POST', '/v1/vehicles', { body: { ...valid, vin: makeVin(100), iccid: makeIccid(100), ...patch } });
    t.equal(response.status, 422, `${name}: 422`);
    t.equal(response.body.error.field, field, `${name}: field ${field}`);
    t.equal(response.body.error.code, 'INVALID_INPUT');
  }
  const notJson = await svc.service.app.inject({ method: 'POST', url: '/v1/vehicles', headers: { authorization: 'Bearer test-admin-token-0123456789abcdef0123456789', 'content-type': 'application/json' }, payload: '{"vin":' });
  t.equal(notJson.statusCode, 422, 'malformed JSON is 422 with the error shape');
  t.equal(notJson.json().error.code, 'INVALID_INPUT');
  const badPath = await svc.request('GET', '/v1/vehicles/not-a-vin');
  t.equal(badPath.status, 422);
});

t.test('404 for an unknown vehicle', async (t) => {
  const vin = makeVin(7777);
  for (const [method, url, body] of [
    ['GET', `/v1/vehicles/${vin}`, undefined],
    ['POST', `/v1/vehicles/${vin}/activate`, { activatedAt: '2026-01-01T00:00:00Z' }],
    ['POST', `/v1/vehicles/${vin}/secret`, undefined],
  ] as const) {
    const response = await svc.request(method, url, { body });
    t.equal(response.status, 404, `${method} ${url}`);
    t.equal(response.body.error.code, 'NOT_FOUND');
  }
});

t.test('activation stores the instant to the millisecond', async (t) => {
  const car = await svc.registerVehicle(500);
  const response = await svc.request('POST', `/v1/vehicles/${car.vin}/activate`, { body: { activatedAt: '2026-05-01T08:00:00.5+08:00' } });
  t.equal(response.status, 200);
  t.equal(response.body.activatedAt, '2026-05-01T00:00:00.500Z');
});

t.test('health, readiness, metrics and docs', async (t) => {
  t.same((await svc.request('GET', '/health', { token: null })).body, { status: 'ok' });
  const ready = await svc.request('GET', '/ready', { token: null });
  t.equal(ready.status, 200);
  t.same(ready.body.checks, { database: true, broker: true });
  const metrics = await svc.request('GET', '/metrics', { token: null });
  t.equal(metrics.status, 200);
  t.match(metrics.body, /process_cpu_seconds_total/);
  const docs = await svc.request('GET', '/docs/json', { token: null });
  t.equal(docs.status, 200);
  t.ok(docs.body.paths['/v1/vehicles'], 'OpenAPI lists POST /v1/vehicles');
  t.ok(docs.body.paths['/v1/vehicles/{vin}/secret'], 'OpenAPI lists rotation');
  const unknown = await svc.request('GET', '/v1/nothing-here');
  t.equal(unknown.status, 404);
  t.same(Object.keys(unknown.body.error).sort(), ['code', 'message']);
});
