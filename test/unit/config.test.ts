import t from 'tap';
import { ConfigError, loadConfig, loadMigrateConfig } from '../../src/shared/config.js';

const key = Buffer.alloc(32, 7).toString('base64');

t.test('defaults give dev mode on the documented ports', async (t) => {
  const config = loadConfig({});
  t.equal(config.HOST, '127.0.0.1');
  t.equal(config.PORT, 3000);
  t.equal(config.MQTT_HOST, '0.0.0.0');
  t.equal(config.MQTT_PORT, 1883);
  t.equal(config.MQTT_TLS_PORT, 8883);
  t.equal(config.MQTT_SHARE_GROUP, 'billing');
  t.equal(config.DATA_DIR, './.data');
  t.equal(config.CATALOG_DIR, './sponsors');
  t.equal(config.LOG_LEVEL, 'info');
  t.equal(config.devMode, true);
  t.ok(Object.isFrozen(config), 'frozen');
});

t.test('every problem is reported at once', async (t) => {
  const error = t.throws(() =>
    loadConfig({ PORT: 'eighty', MQTT_PORT: '70000', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', BATCH_MAX_RECORDS: '0', PII_KEY: 'c2hvcnQ=' }),
  ) as ConfigError;
  t.type(error, ConfigError);
  const fields = error.problems.map((p) => p.split(':')[0]);
  for (const field of ['PORT', 'MQTT_PORT', 'LOG_LEVEL', 'DATABASE_URL', 'BATCH_MAX_RECORDS', 'PII_KEY']) {
    t.ok(fields.includes(field), `${field} reported`);
  }
  t.match(error.message, /PORT/);
});

const production = { DATABASE_URL: 'postgres://db/billing', ADMIN_TOKEN: 'x'.repeat(32), PII_KEY: key };
const problemsOf = (env: Record<string, string>) => ((() => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    return (error as ConfigError).problems.map((p) => p.split(':')[0]!).sort();
  }
})());

t.test('outside dev mode ADMIN_TOKEN, PII_KEY and the broker’s TLS files are required, all listed at once', async (t) => {
  const error = t.throws(() => loadConfig({ DATABASE_URL: 'postgres://db/billing' })) as ConfigError;
  t.same(error.problems.map((p) => p.split(':')[0]).sort(), ['ADMIN_TOKEN', 'MQTT_TLS_CERT', 'MQTT_TLS_KEY', 'PII_KEY']);
  t.match(error.message, /MQTT_PLAINTEXT=behind-tls-proxy/, 'the message names the alternative');
  t.throws(() => loadConfig({ MQTT_URL: 'mqtt://broker:1883', PII_KEY: key }), /ADMIN_TOKEN/);
  t.throws(() => loadConfig({ ...production, ADMIN_TOKEN: 'short' }), /ADMIN_TOKEN: must be at least 32/);
  const config = loadConfig({ ...production, MQTT_TLS_CERT: '/etc/tls/cert.pem', MQTT_TLS_KEY: '/etc/tls/key.pem' });
  t.equal(config.devMode, false);
  t.equal(config.MQTT_PLAINTEXT, undefined, 'no plaintext listener');
});

t.test('production refuses plaintext MQTT unless a TLS-terminating proxy is declared', async (t) => {
  t.same(problemsOf({ ...production, MQTT_PLAINTEXT: 'behind-tls-proxy' }), []);
  t.same(problemsOf({ ...production, MQTT_PLAINTEXT: 'true' }).filter((p) => p === 'MQTT_PLAINTEXT'), ['MQTT_PLAINTEXT'], 'only the one explicit value');
  t.same(problemsOf({ ...production, MQTT_TLS_CERT: '/c.pem' }), ['MQTT_TLS_KEY'], 'half a pair is reported once');
  t.same(problemsOf({ ...production, DATABASE_URL: '', MQTT_URL: 'mqtts://broker:8883' }), [], 'an external broker faces the devices instead');
  t.same(problemsOf({}), [], 'dev mode needs nothing');
});

t.test('providers outside dev mode: https (or loopback http) with a token', async (t) => {
  const tls = { ...production, MQTT_PLAINTEXT: 'behind-tls-proxy' };
  t.same(problemsOf({ ...tls, REALNAME_URL: 'http://realname.example.com', EINVOICE_URL: 'http://tax.example.com' }), ['EINVOICE_TOKEN', 'EINVOICE_URL', 'REALNAME_TOKEN', 'REALNAME_URL']);
  t.same(problemsOf({ ...tls, REALNAME_URL: 'https://realname.example.com', REALNAME_TOKEN: 'r', EINVOICE_URL: 'https://tax.example.com', EINVOICE_TOKEN: 'e' }), []);
  t.same(problemsOf({ ...tls, REALNAME_URL: 'http://127.0.0.1:8080', REALNAME_TOKEN: 'r', EINVOICE_URL: 'http://[::1]:8080', EINVOICE_TOKEN: 'e' }), [], 'a sidecar on loopback');
  t.same(problemsOf({ ...tls, REALNAME_URL: 'http://127.0.0.1.example.com', REALNAME_TOKEN: 'r' }), ['REALNAME_URL'], 'a name that only looks like loopback');
  t.same(problemsOf({ REALNAME_URL: 'http://realname.example.com' }), [], 'dev mode: anything goes');
});

t.test('broker limits: deliberate defaults, bounded values', async (t) => {
  const config = loadConfig({});
  t.equal(config.MQTT_MAX_CONNECTIONS, 20_000);
  t.equal(config.MQTT_MAX_KEEPALIVE, 1200);
  t.same(problemsOf({ MQTT_MAX_CONNECTIONS: '0', MQTT_MAX_KEEPALIVE: '65536' }), ['MQTT_MAX_CONNECTIONS', 'MQTT_MAX_KEEPALIVE']);
});

t.test('INGEST_LANES: 4 by default, whole numbers from 1 to 32', async (t) => {
  t.equal(loadConfig({}).INGEST_LANES, 4);
  t.equal(loadConfig({ INGEST_LANES: '1' }).INGEST_LANES, 1, 'one lane: the single-writer path');
  t.equal(loadConfig({ INGEST_LANES: '32' }).INGEST_LANES, 32);
  for (const bad of ['0', '33', '-1', '2.5', 'four']) t.same(problemsOf({ INGEST_LANES: bad }), ['INGEST_LANES'], `${JSON.stringify(bad)} refused`);
});

t.test('INGEST_MAX_PENDING_BYTES: 16 MiB by default, whole bytes from 1 MiB to 1 GiB, a bad value named', async (t) => {
  t.equal(loadConfig({}).INGEST_MAX_PENDING_BYTES, 16_777_216);
  t.equal(loadConfig({ INGEST_MAX_PENDING_BYTES: '1048576' }).INGEST_MAX_PENDING_BYTES, 1_048_576, 'the minimum');
  t.equal(loadConfig({ INGEST_MAX_PENDING_BYTES: '1073741824' }).INGEST_MAX_PENDING_BYTES, 1_073_741_824, 'the maximum');
  t.equal(loadConfig({ INGEST_MAX_PENDING_BYTES: '' }).INGEST_MAX_PENDING_BYTES, 16_777_216, 'empty is unset');
  const problem = (value: string) => {
    try {
      loadConfig({ INGEST_MAX_PENDING_BYTES: value });
      return 'accepted';
    } catch (error) {
      t.type(error, ConfigError);
      return (error as ConfigError).problems.join('; ');
    }
  };
  t.equal(problem('1048575'), 'INGEST_MAX_PENDING_BYTES: must be at least 1048576 (1 MiB), got 1048575');
  t.equal(problem('0'), 'INGEST_MAX_PENDING_BYTES: must be at least 1048576 (1 MiB), got 0');
  t.equal(problem('1073741825'), 'INGEST_MAX_PENDING_BYTES: must be at most 1073741824 (1 GiB), got 1073741825');
  t.equal(problem('99999999999999999999'), 'INGEST_MAX_PENDING_BYTES: must be at most 1073741824 (1 GiB), got 100000000000000000000');
  for (const malformed of ['64MiB', '64 MiB', '-1', '1.5e6', '2097152.5', '0x100000', 'Infinity', 'NaN', ' 2097152', 'lots']) {
    t.match(problem(malformed), /^INGEST_MAX_PENDING_BYTES: must be a whole number of bytes, digits only/, `${JSON.stringify(malformed)} refused`);
  }
});

t.test('grouped variables must come together; empty strings are unset', async (t) => {
  t.throws(() => loadConfig({ MQTT_TLS_CERT: '/tmp/cert.pem' }), /MQTT_TLS_KEY/);
  t.throws(() => loadConfig({ INFLUX_URL: 'http://influx:8086' }), /INFLUX_TOKEN/);
  t.equal(loadConfig({ DATABASE_URL: '', PORT: '' }).devMode, true);
  t.equal(loadConfig({ PORT: '8080' }).PORT, 8080);
});

t.test('the migration tool reads only the database settings', async (t) => {
  const config = loadMigrateConfig({ DATABASE_URL: 'postgres://db/billing' });
  t.equal(config.DATABASE_URL, 'postgres://db/billing', 'no secrets, TLS files or provider tokens asked for');
  t.throws(() => loadMigrateConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/);
});
