import t from 'tap';
import { ConfigError, loadConfig } from '../../src/shared/config.js';

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

t.test('outside dev mode ADMIN_TOKEN and PII_KEY are required', async (t) => {
  const error = t.throws(() => loadConfig({ DATABASE_URL: 'postgres://db/billing' })) as ConfigError;
  t.same(error.problems.map((p) => p.split(':')[0]).sort(), ['ADMIN_TOKEN', 'PII_KEY']);
  t.throws(() => loadConfig({ MQTT_URL: 'mqtt://broker:1883', PII_KEY: key }), /ADMIN_TOKEN/);
  t.throws(() => loadConfig({ DATABASE_URL: 'postgres://db/billing', ADMIN_TOKEN: 'short', PII_KEY: key }), /ADMIN_TOKEN: must be at least 32/);
  const config = loadConfig({ DATABASE_URL: 'postgres://db/billing', ADMIN_TOKEN: 'x'.repeat(32), PII_KEY: key });
  t.equal(config.devMode, false);
});

t.test('grouped variables must come together; empty strings are unset', async (t) => {
  t.throws(() => loadConfig({ MQTT_TLS_CERT: '/tmp/cert.pem' }), /MQTT_TLS_KEY/);
  t.throws(() => loadConfig({ INFLUX_URL: 'http://influx:8086' }), /INFLUX_TOKEN/);
  t.equal(loadConfig({ DATABASE_URL: '', PORT: '' }).devMode, true);
  t.equal(loadConfig({ PORT: '8080' }).PORT, 8080);
});
