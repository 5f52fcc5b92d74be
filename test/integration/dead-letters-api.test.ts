import t from 'tap';
import { manualClock, startTestService } from '../helpers/service.js';

// DESIGN 5 GET /v1/dead-letters: every rejection of DESIGN 3.1, newest first, with its stored payload.

const clock = manualClock(Date.parse('2026-11-20T12:00:00+08:00'));
const svc = await startTestService(t, {}, clock);
const car = await svc.registerVehicle();
const topic = `tbox/${car.vin}/usage`;

/** Publishes raw bytes as the device; PUBACK is held until the commit, so the letters are stored after it. */
async function publish(payload: string | Buffer) {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    await client.publishAsync(topic, payload, { qos: 1 });
  } finally {
    await client.endAsync();
  }
  clock.advance(60_000); // one minute between messages: receivedAt tells them apart
}

const record = (seq: number, extra: Record<string, unknown> = {}) => ({ seq, start: '2026-11-03T08:15:00+08:00', end: '2026-11-03T08:16:00+08:00', up: 10, down: 20, host: 'tile.amap.com', ...extra });

const notJson = '{"v":1,"batch":1,"records":[';
const notUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]);
const badRecords = JSON.stringify({ v: 1, batch: 3, records: [record(1), record(7, { up: -1 }), record(8, { start: '2026-11-03T08:17:00+08:00' })] });
const newer = JSON.stringify({ v: 2, batch: 4, records: [] });
// 70,000 bytes of JSON with the wrong shape: stored up to 64 KiB, ending inside "é" (2 bytes in UTF-8), so
// the stored bytes are no longer valid UTF-8.
const prefix = '{"v":1,"batch":5,"records":"';
const large = prefix + 'a'.repeat(65_535 - Buffer.byteLength(prefix)) + 'é'.repeat(2_500) + '"}';

await publish(notJson);
await publish(notUtf8);
await publish(badRecords);
await publish(newer);
await publish(large);

const list = (query = '', token?: string | null) => svc.request('GET', `/v1/dead-letters${query}`, token === undefined ? {} : { token });

async function allPages(limit: number) {
  const pages: any[] = [];
  let cursor: string | null = null;
  do {
    const response = await list(`?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    if (response.status !== 200) throw new Error(`${response.status} ${JSON.stringify(response.body)}`);
    pages.push(response.body);
    cursor = response.body.nextCursor;
    if (pages.length > 50) throw new Error('pagination does not end');
  } while (cursor !== null);
  return pages;
}

t.test('every rejection, newest first, with its payload', async (t) => {
  const response = await list();
  t.equal(response.status, 200);
  t.equal(response.body.nextCursor, null, 'one page at the default limit');
  const letters = response.body.deadLetters;
  t.equal(letters.length, 6);
  const ids = letters.map((l: any) => BigInt(l.id));
  t.same(ids, [...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)), 'ids descending');
  const at = (minute: number) => `2026-11-20T12:0${minute}:00.000+08:00`;
  const [truncated, version, record8, record7, binary, json] = letters;

  t.same(json, { id: json.id, vin: car.vin, topic, code: 'INVALID_PAYLOAD', reason: json.reason, index: null, seq: null, receivedAt: at(0), payload: notJson, payloadEncoding: 'utf8', payloadBytes: Buffer.byteLength(notJson) });
  t.ok(json.reason.length > 0, 'a reason');

  t.match(binary, { vin: car.vin, code: 'INVALID_PAYLOAD', index: null, seq: null, receivedAt: at(1), payloadEncoding: 'base64', payloadBytes: notUtf8.length });
  t.same(Buffer.from(binary.payload, 'base64'), notUtf8, 'bytes that are not UTF-8 come back in base64, exactly');

  for (const [letter, index, seq] of [[record7, 1, 7], [record8, 2, 8]] as const) {
    t.match(letter, { vin: car.vin, topic, code: 'INVALID_RECORD', index, seq, receivedAt: at(2), payload: badRecords, payloadEncoding: 'utf8', payloadBytes: Buffer.byteLength(badRecords) });
  }
  t.match(record7.reason, /up/, 'the reason names the field');

  t.match(version, { code: 'UNSUPPORTED_VERSION', index: null, seq: null, receivedAt: at(3), payload: newer, payloadEncoding: 'utf8' });

  t.match(truncated, { code: 'INVALID_PAYLOAD', receivedAt: at(4), payloadEncoding: 'base64', payloadBytes: 65_536 });
  t.same(Buffer.from(truncated.payload, 'base64'), Buffer.from(large).subarray(0, 65_536), 'stored up to 64 KiB');
});

t.test('pages by keyset with no gaps or repeats', async (t) => {
  const everything = (await list('?limit=1000')).body.deadLetters.map((l: any) => l.id);
  for (const limit of [1, 2, 4, 6]) {
    const pages = await allPages(limit);
    t.equal(pages.length, Math.ceil(everything.length / limit), `limit ${limit}: page count`);
    t.ok(pages.every((p) => p.deadLetters.length <= limit), `limit ${limit}: page sizes`);
    t.same(pages.flatMap((p) => p.deadLetters.map((l: any) => l.id)), everything, `limit ${limit}: every letter once, newest first`);
  }
  // A letter stored after the first page was read appears on no later page (it is newer than the cursor).
  const first = await list('?limit=2');
  await publish('nope');
  const rest = (await allPages(1000)).flatMap((p) => p.deadLetters.map((l: any) => l.id));
  t.equal(rest.length, everything.length + 1, 'the new letter is listed');
  let cursor = first.body.nextCursor;
  const after: string[] = [];
  while (cursor) {
    const page = await list(`?limit=2&cursor=${cursor}`);
    after.push(...page.body.deadLetters.map((l: any) => l.id));
    cursor = page.body.nextCursor;
  }
  t.same([...first.body.deadLetters.map((l: any) => l.id), ...after], everything, 'a walk begun earlier is not disturbed');
});

t.test('admin only', async (t) => {
  const anonymous = await list('', null);
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'UNAUTHORIZED');
  const key = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;
  const sponsor = await list('', key);
  t.equal(sponsor.status, 403);
  t.equal(sponsor.body.error.code, 'FORBIDDEN');
});

t.test('422 names the field', async (t) => {
  const cursor = (await list('?limit=1')).body.nextCursor as string;
  const cases: Array<[string, string, string]> = [
    ['limit 0', '?limit=0', 'limit'],
    ['limit 1001', '?limit=1001', 'limit'],
    ['limit negative', '?limit=-5', 'limit'],
    ['limit as text', '?limit=ten', 'limit'],
    ['cursor not base64url', '?cursor=%2F%2F%2F', 'cursor'],
    ['cursor tampered', `?cursor=${cursor.slice(0, -3)}`, 'cursor'],
    ['cursor of another shape', `?cursor=${Buffer.from('{"v":1,"id":"-4"}').toString('base64url')}`, 'cursor'],
    ['cursor not JSON', `?cursor=${Buffer.from('12').toString('base64url')}x`, 'cursor'],
  ];
  for (const [name, query, field] of cases) {
    const response = await list(query);
    t.equal(response.status, 422, `${name}: 422`);
    t.equal(response.body.error?.code, 'INVALID_INPUT', `${name}: code`);
    t.equal(response.body.error?.field, field, `${name}: field ${field}`);
  }
  t.equal((await list(`?limit=1000&cursor=${cursor}`)).status, 200, 'limit 1000 and the untampered cursor');
});
