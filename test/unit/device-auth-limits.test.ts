import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { createFailureTable, sourceKey } from '../../src/vehicles/auth-limiter.js';
import { createDeviceAuthenticator, DEFAULT_LIMITS } from '../../src/vehicles/device-auth.js';
import { hashDeviceSecret, type StoredSecret } from '../../src/vehicles/device-secret.js';
import { makeVin } from '../helpers/fixtures.js';

const VIN = { A: makeVin(1), B: makeVin(2), KNOWN: makeVin(3), NEW: makeVin(4), LATE: makeVin(5) };
const other = (i: number) => makeVin(1000 + i);

/** Failed CONNECTs limited per VIN and per source address (issue 10), with the database read counted. */
async function fixture() {
  const clock = manualClock(Date.UTC(2026, 10, 3));
  const secrets = new Map<string, StoredSecret>();
  let lookups = 0;
  const auth = createDeviceAuthenticator({
    clock,
    findSecret: async (vin) => {
      lookups += 1;
      return secrets.get(vin) ?? null;
    },
  });
  const register = async (vin: string, secret: string) => secrets.set(vin, await hashDeviceSecret(secret));
  return { clock, auth, register, secrets, lookups: () => lookups };
}

const wrong = Buffer.from('not-the-secret');

t.test('per VIN: 3 checked failures, then refused unchecked; the block doubles with each checked failure', async (t) => {
  const { clock, auth, register, lookups } = await fixture();
  await register(VIN.A, 'right');
  for (let i = 0; i < 3; i++) t.same(await auth.authenticate(VIN.A, wrong), { outcome: 'rejected', checked: true });
  for (let i = 0; i < 20; i++) t.same(await auth.authenticate(VIN.A, wrong), { outcome: 'vin-limited', checked: false });
  t.equal(lookups(), 3, 'the database was read for the 3 checked attempts only');
  t.same(await auth.authenticate(VIN.A, Buffer.from('right')), { outcome: 'vin-limited', checked: false }, 'even the right secret waits: it was never verified here');
  clock.advance(1_000);
  t.same(await auth.authenticate(VIN.A, wrong), { outcome: 'rejected', checked: true }, 'after 1 s one more check');
  clock.advance(1_999);
  t.equal((await auth.authenticate(VIN.A, wrong)).outcome, 'vin-limited', 'now blocked for 2 s');
  clock.advance(1);
  t.same(await auth.authenticate(VIN.A, Buffer.from('right')), { outcome: 'accepted', checked: true });
  t.same(await auth.authenticate(VIN.A, wrong), { outcome: 'rejected', checked: true }, 'a success clears the VIN’s failures');
});

t.test('a device whose credential was verified here passes a block on its VIN; a rotated one does not', async (t) => {
  const { auth, register, lookups } = await fixture();
  await register(VIN.B, 'right');
  t.equal((await auth.authenticate(VIN.B, Buffer.from('right'))).outcome, 'accepted');
  for (let i = 0; i < 10; i++) await auth.authenticate(VIN.B, wrong);
  const before = lookups();
  t.equal((await auth.authenticate(VIN.B, wrong)).outcome, 'vin-limited');
  t.equal(lookups(), before, 'the storm costs no lookup');
  t.same(await auth.authenticate(VIN.B, Buffer.from('right')), { outcome: 'accepted', checked: true }, 'the known car gets in');
  for (let i = 0; i < 3; i++) await auth.authenticate(VIN.B, wrong);
  await register(VIN.B, 'rotated'); // rotated on another instance: this one still knows the old fingerprint
  t.same(await auth.authenticate(VIN.B, Buffer.from('right')), { outcome: 'rejected', checked: true }, 'the old secret is checked once and fails');
  t.equal((await auth.authenticate(VIN.B, Buffer.from('right'))).outcome, 'vin-limited', 'and no longer passes the block');
});

t.test('per address: lighter (30 failures), one probe per second while blocked, known devices pass', async (t) => {
  const { clock, auth, register, lookups } = await fixture();
  await register(VIN.KNOWN, 'k');
  await register(VIN.NEW, 'n');
  t.equal((await auth.authenticate(VIN.KNOWN, Buffer.from('k'), '203.0.113.9')).outcome, 'accepted');
  for (let i = 0; i < 30; i++) t.equal((await auth.authenticate(other(i), wrong, '203.0.113.9')).outcome, 'rejected');
  const before = lookups();
  for (let i = 30; i < 60; i++) t.equal((await auth.authenticate(other(i), wrong, '203.0.113.9')).outcome, 'address-limited');
  t.equal(lookups(), before, 'refused unchecked');
  t.equal((await auth.authenticate(VIN.NEW, Buffer.from('n'), '203.0.113.9')).outcome, 'address-limited');
  t.equal((await auth.authenticate(VIN.NEW, Buffer.from('n'), '198.51.100.1')).outcome, 'accepted', 'another address is not affected');
  t.equal((await auth.authenticate(VIN.KNOWN, Buffer.from('k'), '203.0.113.9')).outcome, 'accepted', 'a known device behind the address');
  t.equal((await auth.authenticate(VIN.KNOWN, Buffer.from('k'), '::ffff:203.0.113.9')).outcome, 'accepted');
  t.equal((await auth.authenticate(other(99), wrong, '::ffff:203.0.113.9')).outcome, 'address-limited', 'IPv4-mapped is the same address');
  clock.advance(1_000);
  t.same(await auth.authenticate(other(100), wrong, '203.0.113.9'), { outcome: 'rejected', checked: true }, 'the first block (1 s) is over');
  t.equal((await auth.authenticate(other(101), wrong, '203.0.113.9')).outcome, 'address-limited', 'the next one lasts 2 s');
  clock.advance(1_000);
  t.same(await auth.authenticate(other(0), wrong, '203.0.113.9'), { outcome: 'address-limited', checked: false }, 'a VIN that failed before gets no probe');
  t.same(await auth.authenticate(other(102), wrong, '203.0.113.9'), { outcome: 'rejected', checked: true }, 'one probe a second, for a VIN without failures');
  t.equal((await auth.authenticate(other(103), wrong, '203.0.113.9')).outcome, 'address-limited', 'one');
  await register(VIN.LATE, 'l');
  clock.advance(1_000);
  t.equal((await auth.authenticate(VIN.LATE, Buffer.from('l'), '203.0.113.9')).outcome, 'accepted', 'a new device gets in on a probe');
});

t.test('a username that is no VIN, or a password no secret could be, is refused unchecked and not kept', async (t) => {
  const { auth, lookups } = await fixture();
  t.same(await auth.authenticate('x'.repeat(65_000), wrong, '203.0.113.9'), { outcome: 'rejected', checked: false });
  t.same(await auth.authenticate(makeVin(7).slice(0, 16) + '0', wrong), { outcome: 'rejected', checked: false }, 'a wrong check digit');
  t.same(await auth.authenticate(VIN.A, Buffer.alloc(257, 0x61)), { outcome: 'rejected', checked: false });
  t.equal(lookups(), 0);
});

t.test('the tables are bounded and forget', async (t) => {
  const table = createFailureTable({ ...DEFAULT_LIMITS.vin, maxEntries: 100 });
  for (let i = 0; i < 10_000; i++) table.recordFailure(`k${i}`, 0);
  t.equal(table.size(), 100);
  for (let i = 0; i < 3; i++) table.recordFailure('x', 0);
  t.ok(table.blocked('x', 999));
  t.notOk(table.blocked('x', 1_000));
  table.recordFailure('x', 1_000);
  t.ok(table.blocked('x', 2_999), 'doubled');
  for (let i = 0; i < 40; i++) table.recordFailure('x', 10_000);
  t.ok(table.blocked('x', 10_000 + 15 * 60_000 - 1), 'capped at 15 min');
  t.notOk(table.blocked('x', 10_000 + 15 * 60_000));
  const later = 10_000 + 15 * 60_000 + DEFAULT_LIMITS.vin.forgetAfterMs + 1;
  table.recordFailure('x', later);
  t.notOk(table.blocked('x', later), 'forgotten after an hour without failures: one failure is free again');
});

t.test('source keys: IPv4, IPv4-mapped, IPv6 by /64', async (t) => {
  t.equal(sourceKey('203.0.113.9'), '203.0.113.9');
  t.equal(sourceKey('::ffff:203.0.113.9'), '203.0.113.9');
  t.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.equal(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  t.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(sourceKey('::1'), '0:0:0:0::/64');
  t.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
});
