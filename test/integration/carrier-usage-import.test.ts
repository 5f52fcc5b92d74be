import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from '../helpers/database.js';
import { makeIccid } from '../helpers/fixtures.js';
import { manualClock, startTestService, TEST_ADMIN_TOKEN } from '../helpers/service.js';

// Issue 13: POST /v1/carrier-usage, the carrier CSV import (src/assurance/README.md): all or nothing unless
// ?partial=true, idempotent per (file id, line), corrections audited, every bad line reported by number.

const clock = manualClock(Date.parse('2026-11-20T12:00:00+08:00'));
const databaseUrl = await createTestDatabase(t);
const svc = await startTestService(t, { DATABASE_URL: databaseUrl }, clock);
const A = makeIccid(901);
const B = makeIccid(902);
const HEADER = 'iccid,date,bytes,uplink_bytes,downlink_bytes,apn,rating_group';

async function post(body: string | Buffer, options: { query?: string; fileId?: string; contentType?: string | null; token?: string | null } = {}) {
  const token = options.token === undefined ? TEST_ADMIN_TOKEN : options.token;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'text/csv';
  if (options.fileId) headers['x-file-id'] = options.fileId;
  const response = await svc.service.app.inject({ method: 'POST', url: `/v1/carrier-usage${options.query ?? ''}`, headers, payload: body });
  return { status: response.statusCode, body: response.json() };
}

async function figures(): Promise<Array<{ iccid: string; day: string; bytes: string }>> {
  const { rows } = await svc.service.pool.query(`SELECT iccid, to_char(usage_day, 'YYYY-MM-DD') AS day, bytes::text AS bytes FROM carrier_usage_days ORDER BY iccid, usage_day`);
  return rows;
}

t.test('a valid file is applied; the same file again changes nothing', async (t) => {
  const csv = `${HEADER}\n${A},2026-11-01,1000,400,600,cmiot,10\n${A},2026-11-01,500,,,cmiot,11\r\n${B},2026-11-01,0,,,,\n\n`;
  const first = await post(csv, { fileId: 'cm-20261101-a' });
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.match(first.body, { fileId: 'cm-20261101-a', duplicate: false, lines: 3, applied: 3, alreadyApplied: 0, days: 2, corrections: 0, rejectedCount: 0, rejected: [] });
  t.same(await figures(), [{ iccid: A, day: '2026-11-01', bytes: '1500' }, { iccid: B, day: '2026-11-01', bytes: '0' }], 'lines of one card and day are summed');
  const again = await post(csv, { fileId: 'cm-20261101-a' });
  t.match(again.body, { duplicate: true, applied: 0 }, 're-delivery is a no-op, reported as such');
  const byQuery = await post(csv, { query: '?fileId=cm-20261101-a' });
  t.match(byQuery.body, { duplicate: true }, 'the file id may come as ?fileId');
  t.same(await figures(), [{ iccid: A, day: '2026-11-01', bytes: '1500' }, { iccid: B, day: '2026-11-01', bytes: '0' }]);
});

t.test('without a file id the bytes are the id: the same bytes twice are one file', async (t) => {
  const csv = `iccid,date,bytes\n${B},2026-11-02,77\n`;
  const first = await post(csv);
  t.match(first.body, { applied: 1, duplicate: false });
  t.match(first.body.fileId, /^sha256:[0-9a-f]{64}$/);
  t.match((await post(csv)).body, { duplicate: true, fileId: first.body.fileId });
});

t.test('a corrected file replaces the day and is audited', async (t) => {
  const corrected = await post(`${HEADER}\n${A},2026-11-01,2000,,,,\n`, { fileId: 'cm-20261101-a-v2' });
  t.match(corrected.body, { applied: 1, days: 1, corrections: 1 });
  t.same((await figures()).filter((f) => f.iccid === A), [{ iccid: A, day: '2026-11-01', bytes: '2000' }]);
  const reconciliation = await svc.request('GET', '/v1/reconciliation?month=2026-11');
  t.equal(reconciliation.status, 200);
  t.match(reconciliation.body.corrections, [{ iccid: A, day: '2026-11-01', oldBytes: 1500, newBytes: 2000, oldFileId: 'cm-20261101-a', newFileId: 'cm-20261101-a-v2' }]);
  const old = await post(`${HEADER}\n${A},2026-11-01,1000,400,600,cmiot,10\n${A},2026-11-01,500,,,cmiot,11\r\n${B},2026-11-01,0,,,,\n\n`, { fileId: 'cm-20261101-a' });
  t.match(old.body, { duplicate: true }, 'the old file re-delivered does not undo the correction');
  t.same((await figures()).filter((f) => f.iccid === A), [{ iccid: A, day: '2026-11-01', bytes: '2000' }]);
});

t.test('every bad line is reported by number and nothing is applied', async (t) => {
  const lines = [
    HEADER,
    `${A},2026-11-03,100,,,,`, // 2 good
    `${A.slice(0, -1)}0,2026-11-03,100,,,,`, // 3 Luhn
    `${B},2026-11-31,100,,,,`, // 4 no such date
    `${B},2026-11-21,100,,,,`, // 5 after today
    `${B},2026-11-03,-1,,,,`, // 6
    `${B},2026-11-03,1e3,,,,`, // 7
    `${B},2026-11-03,100,60,50,,`, // 8 split
    `${B},2026-11-03,100,,,bad apn!,`, // 9
    `${B},2026-11-03,100,,,,4294967296`, // 10
    `${B},2026-11-03,100`, // 11 field count
    `"${B},2026-11-03,100,,,,`, // 12 quoting
    `${A},2026-11-03,100,,,,`, // 13 repeats line 2
    `${B},2026-11-03,${'9'.repeat(17)},,,,`, // 14 too big
  ];
  const response = await post(`${lines.join('\n')}\n`, { fileId: 'bad-1' });
  t.equal(response.status, 422);
  t.equal(response.body.error.code, 'INVALID_FILE');
  t.same(
    response.body.rejected.map((r: { line: number; code: string }) => [r.line, r.code]),
    [
      [3, 'INVALID_ICCID'],
      [4, 'INVALID_DATE'],
      [5, 'FUTURE_DATE'],
      [6, 'INVALID_BYTES'],
      [7, 'INVALID_BYTES'],
      [8, 'SPLIT_MISMATCH'],
      [9, 'INVALID_APN'],
      [10, 'INVALID_RATING_GROUP'],
      [11, 'WRONG_FIELD_COUNT'],
      [12, 'INVALID_QUOTING'],
      [13, 'DUPLICATE_LINE'],
      [14, 'INVALID_BYTES'],
    ],
  );
  t.equal(response.body.rejectedCount, 12);
  t.equal((await figures()).filter((f) => f.day === '2026-11-03').length, 0, 'nothing applied');
  const files = await svc.service.pool.query(`SELECT 1 FROM carrier_usage_files WHERE file_id = 'bad-1'`);
  t.equal(files.rowCount, 0, 'a refused file leaves no trace: it can be sent again fixed under the same id');

  const partial = await post(`${lines.join('\n')}\n`, { fileId: 'bad-1', query: '?partial=true' });
  t.equal(partial.status, 200);
  t.match(partial.body, { applied: 1, rejectedCount: 12 });
  t.same((await figures()).filter((f) => f.day === '2026-11-03'), [{ iccid: A, day: '2026-11-03', bytes: '100' }], '?partial=true applies the good lines');

  const fixed = [...lines];
  fixed[2] = `${B},2026-11-03,5,,,,`;
  const retry = await post(`${fixed.slice(0, 3).join('\n')}\n`, { fileId: 'bad-1' });
  t.match(retry.body, { applied: 1, alreadyApplied: 1 }, 'the same file id fixed: only the lines not applied yet are applied');
  const changed = await post(`${HEADER}\n${A},2026-11-03,101,,,,\n`, { fileId: 'bad-1' });
  t.equal(changed.status, 422);
  t.match(changed.body.rejected, [{ line: 2, code: 'LINE_CHANGED' }], 'an applied line never changes under the same file id');
});

t.test('hostile bodies: huge lines, no header, not UTF-8, wrong type, wrong caller', async (t) => {
  const huge = await post(`${HEADER}\n${A},2026-11-04,${'1'.repeat(10_000)},,,,\n${A},2026-11-04,5,,,,\n`, { fileId: 'huge' });
  t.equal(huge.status, 422);
  t.match(huge.body.rejected, [{ line: 2, code: 'LINE_TOO_LONG' }]);
  const endless = await post(Buffer.alloc(200_000, 'x'), { fileId: 'endless' });
  t.match(endless.body.rejected, [{ line: 1, code: 'INVALID_HEADER' }], 'a header row without an end is refused without being held');
  t.match((await post('', { fileId: 'empty' })).body, { error: { code: 'INVALID_FILE' }, rejected: [{ line: 1, code: 'INVALID_HEADER' }] });
  t.match((await post('a,b,c\n1,2,3\n')).body.rejected, [{ line: 1, code: 'INVALID_HEADER', message: /missing: iccid, date, bytes/ }]);
  const latin1 = Buffer.concat([Buffer.from(`${HEADER}\n${A},2026-11-04,5,,,caf`), Buffer.from([0xe9]), Buffer.from(',\n')]);
  t.match((await post(latin1, { fileId: 'latin1' })).body.rejected, [{ line: 2, code: 'INVALID_UTF8' }]);
  t.equal((await post('{}', { contentType: 'application/json' })).status, 415);
  t.equal((await post(`${HEADER}\n`, { contentType: 'text/csv; charset=iso-8859-1' })).status, 415);
  t.equal((await post(`${HEADER}\n`, { contentType: 'application/octet-stream' })).status, 415);
  t.equal((await post(`${HEADER}\n`, { fileId: 'bad id/../x' })).status, 422);
  t.equal((await post(`${HEADER}\n`, { fileId: 'x', query: '?fileId=y' })).status, 422);
  t.equal((await post(`${HEADER}\n`, { query: '?partial=yes' })).status, 422);
  t.equal((await post(`${HEADER}\n`, { token: null })).status, 401);
  const key = await svc.request('POST', '/v1/sponsors/amap/keys');
  t.equal((await post(`${HEADER}\n`, { token: key.body.key })).status, 403);
  t.equal((await svc.request('GET', '/v1/reconciliation?month=2026-11', { token: key.body.key })).status, 403);
  t.equal((await svc.request('GET', '/v1/reconciliation?month=2026-13')).status, 422);
  t.equal((await svc.request('GET', '/v1/reconciliation?month=2026-12')).status, 422, 'a month not yet started');
  t.equal((await svc.request('GET', '/v1/reconciliation/cards/123?month=2026-11')).status, 422);
  t.equal((await svc.request('GET', '/v1/reconciliation?month=2026-11', { token: null })).status, 401);
});

t.test('npm run import-carrier-usage imports a file into the same database, with the same rules', async (t) => {
  const file = path.join(tmpdir(), `carrier-${process.pid}.csv`);
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(file, { force: true })));
  await writeFile(file, `iccid,date,bytes\n${B},2026-11-05,4242\n`);
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import=tsx', path.join(PROJECT_ROOT, 'src/tools/import-carrier-usage.ts'), ...args], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' } }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
  const first = await run([file, '--file-id', 'cli-1']);
  t.equal(first.code, 0, first.stdout);
  t.match(JSON.parse(first.stdout), { fileId: 'cli-1', applied: 1 });
  t.match(JSON.parse((await run([file, '--file-id', 'cli-1'])).stdout), { duplicate: true });
  t.same((await figures()).filter((f) => f.day === '2026-11-05'), [{ iccid: B, day: '2026-11-05', bytes: '4242' }]);
  await writeFile(file, `iccid,date,bytes\n${B},2026-11-05,x\n`);
  const bad = await run([file]);
  t.equal(bad.code, 65, 'bad lines: exit 65, nothing applied');
  t.match(JSON.parse(bad.stdout).rejected, [{ line: 2, code: 'INVALID_BYTES' }]);
  t.equal((await run([])).code, 64);
});
