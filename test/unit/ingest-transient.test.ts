import t from 'tap';
import { isTransient } from '../../src/ingest/ingest-service.js';

/** Issue 10: only connection-class failures pause ingest; anything else bisects to the failing message. */
t.test('the database being away is transient', async (t) => {
  const withCode = (code: string) => Object.assign(new Error('x'), { code });
  for (const code of ['08006', '08001', '57P01', '57P03', '53300', '40001', '40P01', '55P03', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']) {
    t.ok(isTransient(withCode(code)), code);
  }
  for (const message of ['Connection terminated unexpectedly', 'Connection terminated due to connection timeout', 'timeout exceeded when trying to connect', 'Client was closed and is not queryable']) {
    t.ok(isTransient(new Error(message)), message);
  }
});

t.test('everything else is not: it bisects to the one failing message', async (t) => {
  const withCode = (code: string) => Object.assign(new Error('x'), { code });
  t.notOk(isTransient(new Error('not a month: 10000-01')), 'a plain Error without a code');
  t.notOk(isTransient(new RangeError('year 10000 is outside RFC 3339')));
  t.notOk(isTransient(new TypeError("Cannot read properties of undefined (reading 'vin')")));
  for (const code of ['22P05', '22021', '23505', '42P01', 'P0001', 'XX000', '400', 'ERR_SOMETHING']) t.notOk(isTransient(withCode(code)), code);
  t.notOk(isTransient('a string'));
  t.notOk(isTransient(null));
  t.notOk(isTransient({ code: '08006' }), 'only Errors');
});
