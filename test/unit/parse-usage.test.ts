import { createHash } from 'node:crypto';
import t from 'tap';
import fc from 'fast-check';
import { parseUsageMessage, type MessageRejection, type ParsedMessage } from '../../src/ingest/parse-usage.js';
import { checkRecordTime } from '../../src/ingest/record-time.js';
import { classifyRepeats, sameUsageRecord } from '../../src/ingest/repeats.js';
import { maxLinkBytes, type RecordResult, type UsageRecord } from '../../src/ingest/usage-record.js';
import { DEFAULT_MAX_LINK_MBPS } from '../../src/catalog/runtime.js';
import { MAX_USAGE_PAYLOAD_BYTES } from '../../src/shared/protocol.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const TWO_40 = 2n ** 40n;

/** Record fields as raw JSON text, so tests can write tokens like `1.0` that JSON.stringify cannot. */
type RawFields = Record<string, string | undefined>;

const DAY_LATER = '"2026-11-04T08:15:00.000+08:00"';

const BASE: RawFields = {
  seq: '90817',
  start: '"2026-11-03T08:15:00.000+08:00"',
  end: '"2026-11-03T08:16:00.000+08:00"',
  up: '1024',
  down: '52000',
  host: '"tile.amap.com"',
  ip: '"203.0.113.7"',
  port: '443',
  proto: '"tcp"',
  iface: '"tbox"',
  pkg: '"com.autonavi.amapauto"',
};

function objectText(fields: RawFields): string {
  const members = Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return `{${members.map(([key, raw]) => `${JSON.stringify(key)}:${raw}`).join(',')}}`;
}

function messageText(records: string[], top: RawFields = {}): string {
  return objectText({ v: '1', batch: '5521', epoch: '"0"', records: `[${records.join(',')}]`, ...top });
}

function parseText(text: string) {
  return parseUsageMessage(Buffer.from(text, 'utf8'));
}

function accepted(text: string): ParsedMessage {
  const result = parseText(text);
  if (!result.ok) throw new Error(`rejected: ${result.message}`);
  return result;
}

function rejected(text: string | Buffer): MessageRejection {
  const result = typeof text === 'string' ? parseText(text) : parseUsageMessage(text);
  if (result.ok) throw new Error('expected a whole-message rejection');
  return result;
}

/** The single record of a message built from BASE with `overrides`. */
function parseRecord(overrides: RawFields): RecordResult {
  const result = parseText(messageText([objectText({ ...BASE, ...overrides })]));
  if (!result.ok) throw new Error(`message rejected: ${result.message}`);
  const record = result.records[0];
  if (record === undefined) throw new Error('no record');
  return record;
}

function sha16(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 16);
}

const json = (value: unknown): string => JSON.stringify(value);

// ----------------------------------------------------------------------------------------------
// Field rules (DESIGN 3.1)

type Expect = { field: keyof UsageRecord; value: unknown } | { error: RegExp };

const FIELD_CASES: Array<[string, RawFields, Expect]> = [
  // seq: integer 0..2^53−1
  ['seq 0', { seq: '0' }, { field: 'seq', value: 0 }],
  ['seq 2^53−1', { seq: '9007199254740991' }, { field: 'seq', value: 9_007_199_254_740_991 }],
  ['seq 2^53', { seq: '9007199254740992' }, { error: /^seq: must be at most 9007199254740991, got 9007199254740992$/ }],
  ['seq 23 digits', { seq: '12345678901234567890123' }, { error: /^seq: must be at most/ }],
  ['seq -1', { seq: '-1' }, { error: /^seq: must be a non-negative integer, got -1$/ }],
  ['seq -0 is zero', { seq: '-0' }, { field: 'seq', value: 0 }],
  ['seq 1.0', { seq: '1.0' }, { error: /^seq: must be a JSON integer \(no fraction or exponent\), got 1\.0$/ }],
  ['seq 1e3', { seq: '1e3' }, { error: /^seq: must be a JSON integer/ }],
  ['seq as a string', { seq: '"5"' }, { error: /^seq: must be a non-negative integer, got "5"$/ }],
  ['seq null', { seq: 'null' }, { error: /^seq: must be a non-negative integer, got null$/ }],
  ['seq missing', { seq: undefined }, { error: /^seq: is required$/ }],
  // up, down: JSON integers 0..2^40
  ['up 0', { up: '0' }, { field: 'up', value: 0n }],
  // 2^40 bytes are within the link limit only over a long span (issue 10: billing.maxLinkMbps)
  ['up 2^40', { up: '1099511627776', end: DAY_LATER }, { field: 'up', value: TWO_40 }],
  ['up 2^40+1', { up: '1099511627777' }, { error: /^up: must be at most 1099511627776, got 1099511627777$/ }],
  ['up 2^53+1 is not rounded', { up: '9007199254740993' }, { error: /^up: must be at most 1099511627776, got 9007199254740993$/ }],
  ['up -1', { up: '-1' }, { error: /^up: must be a non-negative integer, got -1$/ }],
  ['up -0 is zero', { up: '-0' }, { field: 'up', value: 0n }],
  ['up 1.0', { up: '1.0' }, { error: /^up: must be a JSON integer/ }],
  ['up 1024.0', { up: '1024.0' }, { error: /^up: must be a JSON integer \(no fraction or exponent\), got 1024\.0$/ }],
  ['up 1e3', { up: '1e3' }, { error: /^up: must be a JSON integer/ }],
  ['up 1.024E3', { up: '1.024E3' }, { error: /^up: must be a JSON integer/ }],
  ['up 1e+2', { up: '1e+2' }, { error: /^up: must be a JSON integer/ }],
  ['up 1e999', { up: '1e999' }, { error: /^up: must be a JSON integer/ }],
  ['up 0.5', { up: '0.5' }, { error: /^up: must be a JSON integer/ }],
  ['up as a string', { up: '"1024"' }, { error: /^up: must be a non-negative integer, got "1024"$/ }],
  ['up true', { up: 'true' }, { error: /^up: must be a non-negative integer, got true$/ }],
  ['up missing', { up: undefined }, { error: /^up: is required$/ }],
  ['down 2^40', { down: '1099511627776', end: DAY_LATER }, { field: 'down', value: TWO_40 }],
  ['down 2^40+1', { down: '1099511627777' }, { error: /^down: must be at most/ }],
  ['down 1.5', { down: '1.5' }, { error: /^down: must be a JSON integer/ }],
  ['down -7', { down: '-7' }, { error: /^down: must be a non-negative integer/ }],
  // start, end: RFC 3339 with offset, start ≤ end ≤ start + 24 h
  ['start Z', { start: '"2026-11-03T00:15:00Z"' }, { field: 'startMs', value: Date.UTC(2026, 10, 3, 0, 15) }],
  ['start offset, no fraction', { start: '"2026-11-03T08:15:00+08:00"' }, { field: 'startMs', value: Date.UTC(2026, 10, 3, 0, 15) }],
  ['start µs truncated', { start: '"2026-11-03T08:15:00.123999+08:00"' }, { field: 'startMs', value: Date.UTC(2026, 10, 3, 0, 15, 0, 123) }],
  ['start :60', { start: '"2026-11-03T08:14:60+08:00"' }, { error: /^start: must be an RFC 3339 timestamp with an offset, got "2026-11-03T08:14:60\+08:00"$/ }],
  ['start without offset', { start: '"2026-11-03T08:15:00.000"' }, { error: /^start: must be an RFC 3339 timestamp with an offset/ }],
  ['start date only', { start: '"2026-11-03"' }, { error: /^start: must be an RFC 3339/ }],
  ['start 30 Feb', { start: '"2026-02-30T08:15:00Z"' }, { error: /^start: must be an RFC 3339/ }],
  ['start epoch ms', { start: '1762128900000' }, { error: /^start: must be an RFC 3339 timestamp with an offset, got 1762128900000$/ }],
  ['start missing', { start: undefined }, { error: /^start: is required$/ }],
  ['end missing', { end: undefined }, { error: /^end: is required$/ }],
  ['start = end', { end: '"2026-11-03T08:15:00.000+08:00"' }, { field: 'endMs', value: Date.UTC(2026, 10, 3, 0, 15) }],
  ['start > end', { end: '"2026-11-03T08:14:59.999+08:00"' }, { error: /^end: must not be before start$/ }],
  ['end in another offset, same instant', { end: '"2026-11-03T00:16:00Z"' }, { field: 'endMs', value: Date.UTC(2026, 10, 3, 0, 16) }],
  ['span exactly 24 h', { end: '"2026-11-04T08:15:00.000+08:00"' }, { field: 'endMs', value: Date.UTC(2026, 10, 3, 0, 15) + DAY }],
  ['span 24 h + 1 ms', { end: '"2026-11-04T08:15:00.001+08:00"' }, { error: /^end: must be at most 24 h after start, got 86400001 ms$/ }],
  // host: optional, ≤ 253 chars, normalised per 4.1
  ['host 253 chars', { host: json(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`) }, { field: 'hostMatchable', value: true }],
  ['host 254 chars', { host: json('a'.repeat(254)) }, { error: /^host: must be at most 253 characters, got 254$/ }],
  ['host IDN normalised', { host: '"Bücher.EXAMPLE."' }, { field: 'host', value: 'xn--bcher-kva.example' }],
  ['host trimmed, port dropped, lower-cased', { host: '" Tile.AMAP.com:443 "' }, { field: 'host', value: 'tile.amap.com' }],
  ['host that fails normalisation kept trimmed', { host: '"  bad host  "' }, { field: 'host', value: 'bad host' }],
  ['host absent', { host: undefined }, { field: 'host', value: null }],
  ['host null is absent', { host: 'null' }, { field: 'host', value: null }],
  ['host a number', { host: '42' }, { error: /^host: must be a string, got 42$/ }],
  // ip: optional IPv4/IPv6, canonical
  ['ip mapped IPv4', { ip: '"::ffff:1.2.3.4"' }, { field: 'ip', value: '1.2.3.4' }],
  ['ip IPv6 canonical', { ip: '"2001:DB8:0:0:0:0:0:1"' }, { field: 'ip', value: '2001:db8::1' }],
  ['ip absent', { ip: undefined }, { field: 'ip', value: null }],
  ['ip 1.2.3', { ip: '"1.2.3"' }, { error: /^ip: must be an IPv4 or IPv6 address, got "1\.2\.3"$/ }],
  ['ip 256', { ip: '"1.2.3.256"' }, { error: /^ip: must be an IPv4 or IPv6 address/ }],
  ['ip zone id', { ip: '"fe80::1%eth0"' }, { error: /^ip: must be an IPv4 or IPv6 address/ }],
  ['ip a host name', { ip: '"tile.amap.com"' }, { error: /^ip: must be an IPv4 or IPv6 address/ }],
  ['ip a number', { ip: '16909060' }, { error: /^ip: must be an IPv4 or IPv6 address, got 16909060$/ }],
  // port: optional 0..65535
  ['port 0', { port: '0' }, { field: 'port', value: 0 }],
  ['port 65535', { port: '65535' }, { field: 'port', value: 65_535 }],
  ['port 65536', { port: '65536' }, { error: /^port: must be at most 65535, got 65536$/ }],
  ['port -1', { port: '-1' }, { error: /^port: must be a non-negative integer/ }],
  ['port 443.0', { port: '443.0' }, { error: /^port: must be a JSON integer/ }],
  ['port as a string', { port: '"443"' }, { error: /^port: must be a non-negative integer, got "443"$/ }],
  ['port absent', { port: undefined }, { field: 'port', value: null }],
  ['port null', { port: 'null' }, { field: 'port', value: null }],
  // proto, iface: enums
  ['proto udp', { proto: '"udp"' }, { field: 'proto', value: 'udp' }],
  ['proto icmp', { proto: '"icmp"' }, { field: 'proto', value: 'icmp' }],
  ['proto other', { proto: '"other"' }, { field: 'proto', value: 'other' }],
  ['proto absent', { proto: undefined }, { field: 'proto', value: null }],
  ['proto TCP', { proto: '"TCP"' }, { error: /^proto: must be one of tcp, udp, icmp, other, got "TCP"$/ }],
  ['proto sctp', { proto: '"sctp"' }, { error: /^proto: must be one of/ }],
  ['iface hotspot', { iface: '"hotspot"' }, { field: 'iface', value: 'hotspot' }],
  ['iface default tbox', { iface: undefined }, { field: 'iface', value: 'tbox' }],
  ['iface null is the default', { iface: 'null' }, { field: 'iface', value: 'tbox' }],
  ['iface wifi', { iface: '"wifi"' }, { error: /^iface: must be one of tbox, hotspot, got "wifi"$/ }],
  // pkg: optional, ≤ 255 chars, "" kept
  ['pkg empty kept', { pkg: '""' }, { field: 'pkg', value: '' }],
  ['pkg absent', { pkg: undefined }, { field: 'pkg', value: null }],
  ['pkg 255 chars', { pkg: json('p'.repeat(255)) }, { field: 'pkg', value: 'p'.repeat(255) }],
  ['pkg 255 astral chars (510 UTF-16 units)', { pkg: json('😀'.repeat(255)) }, { field: 'pkg', value: '😀'.repeat(255) }],
  ['pkg 256 chars', { pkg: json('p'.repeat(256)) }, { error: /^pkg: must be at most 255 characters, got 256$/ }],
  ['pkg a number', { pkg: '7' }, { error: /^pkg: must be a string, got 7$/ }],
  // Issue 10: what PostgreSQL cannot store, and instants outside 2000..2099, are INVALID_RECORD at parse time.
  ['pkg with NUL', { pkg: json('com.a\u0000b') }, { error: /^pkg: must not contain a NUL character \(U\+0000\)$/ }],
  ['pkg with a lone surrogate', { pkg: '"com.a\\ud800"' }, { error: /^pkg: must be well-formed Unicode/ }],
  ['pkg with a surrogate pair', { pkg: json('com.😀') }, { field: 'pkg', value: 'com.😀' }],
  ['host with NUL', { host: json('tile.amap.com\u0000') }, { error: /^host: must not contain a NUL character/ }],
  ['host with a lone surrogate', { host: '"\\udc00.amap.com"' }, { error: /^host: must be well-formed Unicode/ }],
  ['host 1.5', { host: '1.5' }, { error: /^host: must be a string, got 1\.5$/ }],
  ['host 12345678901234567', { host: '12345678901234567' }, { error: /^host: must be a string, got 12345678901234567$/ }],
  ['start 2000-01-01T00:00Z (first instant)', { start: '"2000-01-01T00:00:00Z"', end: '"2000-01-01T00:01:00Z"' }, { field: 'startMs', value: Date.UTC(2000, 0, 1) }],
  ['start just before 2000', { start: '"1999-12-31T23:59:59.999Z"' }, { error: /^start: must be from 2000-01-01T00:00:00.000Z up to \(not including\) 2100-01-01T00:00:00.000Z, got "1999-12-31T23:59:59.999Z"$/ }],
  ['start 2000-01-01 in +08:00 (1999 in UTC)', { start: '"2000-01-01T00:00:00+08:00"' }, { error: /^start: must be from/ }],
  ['end 2099-12-31T23:59:59.999Z (last instant)', { start: '"2099-12-31T23:59:00Z"', end: '"2099-12-31T23:59:59.999Z"' }, { field: 'endMs', value: Date.UTC(2100, 0, 1) - 1 }],
  ['end 2100-01-01T00:00Z', { start: '"2099-12-31T23:59:00Z"', end: '"2100-01-01T00:00:00Z"' }, { error: /^end: must be from/ }],
  ['start year 0000', { start: '"0000-01-01T00:00:00Z"' }, { error: /^start: must be from/ }],
  ['start year 9999 at -23:59 (10000 in UTC)', { start: '"9999-12-31T23:59:00-23:59"', end: '"9999-12-31T23:59:00-23:59"' }, { error: /^start: must be from .*; end: must be from/ }],
  // Issue 10: bytes beyond a 10,000 Mbit/s link over the span (at least 60 s) are implausible.
  ['bytes at the link limit over 60 s', { up: '74999948000' }, { field: 'up', value: 74_999_948_000n }],
  ['bytes one over the link limit over 60 s', { up: '74999948001' }, { error: /^up \+ down: 75000000001 bytes in 60000 ms is more than a 10000 Mbit\/s link carries \(at most 75000000000 bytes/ }],
  ['a zero-length record is judged over 60 s', { end: '"2026-11-03T08:15:00.000+08:00"', up: '74999948000' }, { field: 'up', value: 74_999_948_000n }],
  ['a zero-length record over the limit', { end: '"2026-11-03T08:15:00.000+08:00"', up: '74999948001' }, { error: /^up \+ down: 75000000001 bytes in 0 ms/ }],
];

t.test('record field rules and boundaries', async (t) => {
  for (const [name, overrides, expect] of FIELD_CASES) {
    const result = parseRecord(overrides);
    if ('error' in expect) {
      if (result.ok) {
        t.fail(`${name}: accepted`);
        continue;
      }
      t.match(result.message, expect.error, name);
      t.equal(result.code, 'INVALID_RECORD', `${name}: code`);
      t.equal(result.retryable, false, `${name}: not retryable`);
    } else {
      if (!result.ok) {
        t.fail(`${name}: rejected with ${result.message}`);
        continue;
      }
      t.same(result.record[expect.field], expect.value, name);
    }
  }
});

t.test('a valid record is normalised completely', async (t) => {
  const result = parseRecord({});
  t.same(result, {
    index: 0,
    ok: true,
    record: {
      seq: 90817,
      startMs: Date.UTC(2026, 10, 3, 0, 15),
      endMs: Date.UTC(2026, 10, 3, 0, 16),
      up: 1024n,
      down: 52000n,
      host: 'tile.amap.com',
      hostMatchable: true,
      ip: '203.0.113.7',
      port: 443,
      proto: 'tcp',
      iface: 'tbox',
      pkg: 'com.autonavi.amapauto',
    },
  });
  const minimal = parseRecord({ host: undefined, ip: undefined, port: undefined, proto: undefined, iface: undefined, pkg: undefined });
  t.same(minimal.ok && minimal.record, {
    seq: 90817,
    startMs: Date.UTC(2026, 10, 3, 0, 15),
    endMs: Date.UTC(2026, 10, 3, 0, 16),
    up: 1024n,
    down: 52000n,
    host: null,
    hostMatchable: false,
    ip: null,
    port: null,
    proto: null,
    iface: 'tbox',
    pkg: null,
  });
  t.equal(typeof (result.ok && result.record.up), 'bigint', 'bytes are bigint');
});

t.test('a host that fails normalisation is kept, unmatchable, and bad hosts stay different', async (t) => {
  const a = parseRecord({ host: '"bad host"' });
  const b = parseRecord({ host: '"worse host"' });
  if (!a.ok || !b.ok) throw new Error('rejected');
  t.equal(a.record.hostMatchable, false);
  t.equal(a.record.host, 'bad host');
  t.notOk(sameUsageRecord(a.record, b.record));
});

t.test('several failing fields: one message, in field order, seq echoed', async (t) => {
  const result = parseRecord({ pkg: '5', up: '1.0', start: '"yesterday"' });
  t.same(result, {
    index: 0,
    ok: false,
    seq: 90817,
    code: 'INVALID_RECORD',
    message:
      'start: must be an RFC 3339 timestamp with an offset, got "yesterday"; ' +
      'up: must be a JSON integer (no fraction or exponent), got 1.0; pkg: must be a string, got 5',
    retryable: false,
  });
  const spanAndField = parseRecord({ end: '"2026-11-03T08:00:00+08:00"', down: '-1' });
  t.equal(!spanAndField.ok && spanAndField.message, 'end: must not be before start; down: must be a non-negative integer, got -1');
  const badSeq = parseRecord({ seq: '-3', up: '-1' });
  t.equal(!badSeq.ok && badSeq.seq, null, 'an invalid seq is not echoed');
});

t.test('records that are not objects', async (t) => {
  const result = accepted(messageText(['42', 'null', '[]', '"x"', objectText(BASE)]));
  t.same(
    result.records.map((r) => (r.ok ? 'ok' : r.message)),
    [
      'record: must be an object, got 42',
      'record: must be an object, got null',
      'record: must be an object, got an array',
      'record: must be an object, got "x"',
      'ok',
    ],
  );
  t.same(result.records.map((r) => r.index), [0, 1, 2, 3, 4]);
  t.same(result.records.map((r) => (r.ok ? r.record.seq : r.seq)), [null, null, null, null, 90817]);
});

t.test('one bad record does not affect the others; results in array order', async (t) => {
  const records = [objectText({ ...BASE, seq: '1' }), objectText({ ...BASE, seq: '2', up: '-1' }), objectText({ ...BASE, seq: '3' })];
  const result = accepted(messageText(records));
  t.same(result.records.map((r) => [r.index, r.ok]), [[0, true], [1, false], [2, true]]);
});

t.test('unknown fields are ignored, at the top level and per record', async (t) => {
  const record = objectText({
    ...BASE,
    future: '{"nested":[1.5,1e999,123456789012345678901234567890,{"deep":true}]}',
    rtt: '12.5',
    big: '-123456789012345678901234567890',
    constructor: '1',
  });
  const result = accepted(messageText([record], { extra: '"x"', ratio: '0.25', huge: '1E400' }));
  t.equal(result.records[0]?.ok, true);
  if (result.records[0]?.ok) t.notOk('future' in result.records[0].record, 'unknown fields are not copied');
});

// ----------------------------------------------------------------------------------------------
// Whole-message rules

t.test('whole-message rejections', async (t) => {
  const record = objectText(BASE);
  const cases: Array<[string, string | Buffer, 'INVALID_PAYLOAD' | 'UNSUPPORTED_VERSION', number | null, RegExp]> = [
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'INVALID_PAYLOAD', null, /^payload: not valid UTF-8$/],
    ['UTF-8 encoded surrogate', Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), 'INVALID_PAYLOAD', null, /UTF-8/],
    ['overlong UTF-8', Buffer.from([0x22, 0xc0, 0xaf, 0x22]), 'INVALID_PAYLOAD', null, /UTF-8/],
    ['empty', '', 'INVALID_PAYLOAD', null, /^payload: not valid JSON$/],
    ['not JSON', 'hello', 'INVALID_PAYLOAD', null, /not valid JSON/],
    ['truncated', messageText([record]).slice(0, -3), 'INVALID_PAYLOAD', null, /not valid JSON/],
    ['NaN', messageText([objectText({ ...BASE, up: 'NaN' })]), 'INVALID_PAYLOAD', null, /not valid JSON/],
    ['Infinity', messageText([objectText({ ...BASE, up: 'Infinity' })]), 'INVALID_PAYLOAD', null, /not valid JSON/],
    ['a number with a leading zero', messageText([objectText({ ...BASE, up: '0012345678901234567' })]), 'INVALID_PAYLOAD', null, /not valid JSON/],
    ['an array', `[${messageText([record])}]`, 'INVALID_PAYLOAD', null, /^payload: must be a JSON object, got an array$/],
    ['null', 'null', 'INVALID_PAYLOAD', null, /must be a JSON object, got null/],
    ['a number', '1.5', 'INVALID_PAYLOAD', null, /must be a JSON object, got 1\.5/],
    ['v 2', messageText([record], { v: '2' }), 'UNSUPPORTED_VERSION', 5521, /^v: unsupported version 2, this server speaks 1$/],
    ['v "1"', messageText([record], { v: '"1"' }), 'UNSUPPORTED_VERSION', 5521, /unsupported version "1"/],
    ['v 1.0', messageText([record], { v: '1.0' }), 'UNSUPPORTED_VERSION', 5521, /unsupported version 1\.0/],
    ['v missing', messageText([record], { v: undefined }), 'UNSUPPORTED_VERSION', 5521, /unsupported version none/],
    ['v 2 and no records', messageText([], { v: '2' }), 'UNSUPPORTED_VERSION', 5521, /unsupported/],
    ['v 2 and a bad batch', messageText([record], { v: '2', batch: '-1' }), 'UNSUPPORTED_VERSION', null, /unsupported/],
    ['v 2, batch 2^53−1', messageText([record], { v: '2', batch: '9007199254740991' }), 'UNSUPPORTED_VERSION', 9_007_199_254_740_991, /unsupported/],
    ['batch missing', messageText([record], { batch: undefined }), 'INVALID_PAYLOAD', null, /^batch: is required$/],
    ['batch -1', messageText([record], { batch: '-1' }), 'INVALID_PAYLOAD', null, /^batch: must be a non-negative integer, got -1$/],
    ['batch 1.5', messageText([record], { batch: '1.5' }), 'INVALID_PAYLOAD', null, /^batch: must be a JSON integer/],
    ['batch "7"', messageText([record], { batch: '"7"' }), 'INVALID_PAYLOAD', null, /^batch: must be a non-negative integer, got "7"$/],
    ['batch 2^53', messageText([record], { batch: '9007199254740992' }), 'INVALID_PAYLOAD', null, /^batch: must be at most 9007199254740991/],
    ['epoch empty', messageText([record], { epoch: '""' }), 'INVALID_PAYLOAD', 5521, /^epoch: must be 1 to 36 characters of \[A-Za-z0-9-\], got ""$/],
    ['epoch 37 chars', messageText([record], { epoch: json('e'.repeat(37)) }), 'INVALID_PAYLOAD', 5521, /^epoch:/],
    ['epoch underscore', messageText([record], { epoch: '"a_b"' }), 'INVALID_PAYLOAD', 5521, /^epoch:/],
    ['epoch a number', messageText([record], { epoch: '7' }), 'INVALID_PAYLOAD', 5521, /^epoch: .*got 7$/],
    ['records missing', messageText([record], { records: undefined }), 'INVALID_PAYLOAD', 5521, /^records: must be an array of 1 to 1000 records, got none$/],
    ['records an object', messageText([record], { records: '{}' }), 'INVALID_PAYLOAD', 5521, /^records: .*got an object$/],
    ['records empty', messageText([]), 'INVALID_PAYLOAD', 5521, /^records: .*got 0 items$/],
    ['1001 records', messageText(Array(1001).fill(record)), 'INVALID_PAYLOAD', 5521, /^records: .*got 1001 items$/],
  ];
  for (const [name, payload, code, batch, message] of cases) {
    const buffer = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const result = rejected(buffer);
    t.equal(result.code, code, `${name}: code`);
    t.equal(result.retryable, code === 'UNSUPPORTED_VERSION', `${name}: retryable`);
    t.equal(result.batch, batch, `${name}: batch`);
    t.match(result.message, message, `${name}: message`);
    t.equal(result.payloadSha256, sha16(buffer), `${name}: payloadSha256`);
    t.match(result.payloadSha256, /^[0-9a-f]{16}$/);
  }
});

t.test('message boundaries that are accepted', async (t) => {
  const record = objectText(BASE);
  const thousand = accepted(messageText(Array(1000).fill(record)));
  t.equal(thousand.records.length, 1000);
  t.equal(accepted(messageText([record], { batch: '0' })).batch, 0);
  t.equal(accepted(messageText([record], { batch: '9007199254740991' })).batch, 9_007_199_254_740_991);
  t.equal(accepted(messageText([record], { epoch: undefined })).epoch, '0', 'epoch defaults to "0"');
  t.equal(accepted(messageText([record], { epoch: 'null' })).epoch, '0', 'epoch null is the default');
  t.equal(accepted(messageText([record], { epoch: json('aZ-9'.repeat(9)) })).epoch, 'aZ-9'.repeat(9), '36 chars');
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(messageText([record]))]);
  t.equal(parseUsageMessage(withBom).ok, true, 'a leading BOM is ignored (RFC 8259 section 8.1)');
});

t.test('payload size limit', async (t) => {
  const filler = 'x'.repeat(MAX_USAGE_PAYLOAD_BYTES);
  const result = rejected(messageText([objectText({ ...BASE, pad: json(filler) })]));
  t.equal(result.code, 'INVALID_PAYLOAD');
  t.match(result.message, /exceeds the limit of 262144/);
  const exact = messageText([objectText(BASE)]);
  const padded = exact.slice(0, -1) + ' '.repeat(MAX_USAGE_PAYLOAD_BYTES - Buffer.byteLength(exact)) + '}';
  t.equal(Buffer.byteLength(padded), MAX_USAGE_PAYLOAD_BYTES);
  t.equal(parseText(padded).ok, true, 'exactly 262,144 bytes is accepted');
});

// ----------------------------------------------------------------------------------------------
// Hostile input

t.test('hostile input never throws', async (t) => {
  const record = objectText(BASE);
  const deep = 100_000;
  t.equal(rejected('['.repeat(deep) + ']'.repeat(deep)).code, 'INVALID_PAYLOAD', 'deep array');
  t.equal(rejected('['.repeat(deep)).code, 'INVALID_PAYLOAD', 'deep, unterminated');
  t.equal(rejected('{"a":'.repeat(40_000) + '1' + '}'.repeat(40_000)).code, 'UNSUPPORTED_VERSION', 'deep object');
  const deepUnknown = messageText([record], { x: '['.repeat(deep) + ']'.repeat(deep) });
  t.equal(accepted(deepUnknown).records[0]?.ok, true, 'deep nesting in an unknown field is ignored');
  const deepRecord = accepted(messageText(['['.repeat(deep) + ']'.repeat(deep)])).records[0];
  t.equal(deepRecord?.ok, false, 'a deeply nested record is an invalid record');

  const huge = accepted(messageText([objectText({ ...BASE, host: json('h'.repeat(200_000)) })])).records[0];
  t.match(!huge?.ok && huge?.message, /^host: must be at most 253 characters, got 200000$/);
  t.equal(rejected(messageText([record], { v: json('v'.repeat(200_000)) })).message.length < 100, true, 'long values are truncated in messages');

  const digits = accepted(messageText([objectText({ ...BASE, up: '9'.repeat(200_000) })])).records[0];
  t.match(!digits?.ok && digits?.message, /^up: must be at most 1099511627776, got 9{37}\.\.\.$/);
});

t.test('__proto__ keys neither pollute nor inject', async (t) => {
  // computed keys: a literal `__proto__:` would set the prototype instead of adding a key
  const message = messageText([objectText({ ...BASE, seq: undefined, ['__proto__']: '{"seq":5,"polluted":1}' })], {
    ['__proto__']: '{"v":2,"records":[],"polluted":1}',
  });
  t.match(message, /"__proto__":\{"v":2/);
  const result = accepted(message);
  t.match(!result.records[0]?.ok && result.records[0]?.message, /^seq: is required$/, 'seq is not read through __proto__');
  t.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype is untouched');
});

t.test('duplicate keys: the last one wins', async (t) => {
  const text = messageText([`{${Object.entries(BASE).map(([k, v]) => `"${k}":${v}`).join(',')},"up":7}`]);
  const result = accepted(text).records[0];
  t.equal(result?.ok && result.record.up, 7n);
});

t.test('number scanning: strings, escapes, keys and forged markers', async (t) => {
  // number-like text inside strings is left alone, also after escaped quotes and backslashes
  const tricky = parseRecord({ pkg: json('a"1.5e3\\'), host: json('1.0e5') });
  t.equal(tricky.ok && tricky.record.pkg, 'a"1.5e3\\');
  const afterBackslash = parseRecord({ pkg: json('x\\'), up: '1.0' });
  t.match(!afterBackslash.ok && afterBackslash.message, /^up: must be a JSON integer/, 'a string ending in \\\\ ends there');
  // a device cannot forge the scanner's marker
  const forged = parseRecord({ up: json('\u0000num0000000000000000:5') });
  t.match(!forged.ok && forged.message, /^up: must be a non-negative integer/);
  t.notOk(!forged.ok && forged.message.includes("\u0000"), "no NUL in the message");
  // rewriting a number must never turn invalid JSON into JSON
  for (const text of ['{1.5:2}', '{"v":1, 12345678901234567 : 1}', '[1.5.5]', '[1e]', '[.5]', '[1.]', '[-]', '[+1]', '[0x10]', '[1-2]', '[--1.0]', '[1.0e5e5]', '[01.5]', '[true1.5]']) {
    t.equal(rejected(text).code, 'INVALID_PAYLOAD', text);
  }
  // … and valid JSON stays valid
  t.equal(rejected('[1.5, -2E-7 ,12345678901234567890]').message, 'payload: must be a JSON object, got an array');
  t.equal(rejected('{"a":[1.5,-2E-7,12345678901234567890]}').code, 'UNSUPPORTED_VERSION');
  // a message that is nothing but numbers in odd forms still parses
  const mixed = accepted(messageText([objectText({ ...BASE, seq: '12', x: '[1.5,2e3,-0.0,12345678901234567890]' })], { z: '-1.5E+10' }));
  t.equal(mixed.records[0]?.ok, true);
});

t.test('lone surrogates and control characters in strings do not throw', async (t) => {
  for (const raw of ['"\\ud800"', '"\\udfff.example"', '"\\u0000"', '"a\\u0000b.com"', '"\\u00ad"', '"xn--"', '"[::1"', '"a:b:c"']) {
    const result = parseRecord({ host: raw, pkg: raw });
    t.ok(typeof result.ok === 'boolean', raw);
  }
});

// ----------------------------------------------------------------------------------------------
// Duplicates (DESIGN 3.2)

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    seq: 1,
    startMs: Date.UTC(2026, 10, 3),
    endMs: Date.UTC(2026, 10, 3, 0, 1),
    up: 1n,
    down: 2n,
    host: 'a.example',
    hostMatchable: true,
    ip: '1.2.3.4',
    port: 443,
    proto: 'tcp',
    iface: 'tbox',
    pkg: null,
    ...overrides,
  };
}

t.test('sameUsageRecord: absent pkg differs from ""; iface default; ip canonical', async (t) => {
  const absent = parseRecord({ pkg: undefined });
  const empty = parseRecord({ pkg: '""' });
  if (!absent.ok || !empty.ok) throw new Error('rejected');
  t.notOk(sameUsageRecord(absent.record, empty.record), 'absent pkg ≠ ""');
  const defaulted = parseRecord({ iface: undefined });
  const explicit = parseRecord({ iface: '"tbox"' });
  t.ok(defaulted.ok && explicit.ok && sameUsageRecord(defaulted.record, explicit.record), 'iface compared with its default');
  const mapped = parseRecord({ ip: '"::FFFF:203.0.113.7"' });
  const plain = parseRecord({});
  t.ok(mapped.ok && plain.ok && sameUsageRecord(mapped.record, plain.record), '::ffff:a.b.c.d is the IPv4 address');
  t.notOk(sameUsageRecord(record(), record({ seq: 2, up: 5n })));
  t.ok(sameUsageRecord(record(), record({ seq: 2 })), 'seq is not compared (it is the key)');
});

t.test('classifyRepeats: a repeated seq compares with its first non-rejected occurrence', async (t) => {
  const first = record({ seq: 7 });
  t.same(
    classifyRepeats([first, record({ seq: 7 }), record({ seq: 7, up: 9n }), null, record({ seq: 8 }), record({ seq: 8 })]),
    ['first', 'duplicate', 'conflict', 'rejected', 'first', 'duplicate'],
  );
  t.same(classifyRepeats([null, record({ seq: 7, up: 9n }), record({ seq: 7 })]), ['rejected', 'first', 'conflict'], 'a rejected record does not claim its seq');
  t.same(classifyRepeats([]), []);
});

t.test('classifyRepeats fed from parse results', async (t) => {
  const records = [
    objectText({ ...BASE, seq: '1' }),
    objectText({ ...BASE, seq: '1', up: '-1' }), // rejected: claims nothing
    objectText({ ...BASE, seq: '2', up: '-1' }), // rejected
    objectText({ ...BASE, seq: '2' }), // the first valid 2
    objectText({ ...BASE, seq: '1', start: '"2026-11-03T00:15:00Z"' }), // same instant as the first 1
    objectText({ ...BASE, seq: '2', pkg: '""' }), // differs from the first 2
  ];
  const parsed = accepted(messageText(records));
  t.same(classifyRepeats(parsed.records.map((r) => (r.ok ? r.record : null))), ['first', 'rejected', 'rejected', 'first', 'duplicate', 'conflict']);
});

// ----------------------------------------------------------------------------------------------
// Receipt-time checks (DESIGN 3.1)

t.test('checkRecordTime: boundaries and order', async (t) => {
  const now = Date.UTC(2026, 10, 3, 12);
  const activated = Date.UTC(2025, 0, 1);
  const ctx = { nowMs: now, activatedAtMs: activated, maxLateDays: null };
  const at = (startMs: number, endMs: number) => ({ startMs, endMs });
  const cases: Array<[string, { startMs: number; endMs: number }, Parameters<typeof checkRecordTime>[1], string | null]> = [
    ['end = now + 5 min', at(now, now + 300_000), ctx, null],
    ['end = now + 5 min + 1 ms', at(now, now + 300_001), ctx, 'CLOCK_AHEAD'],
    ['start = activatedAt', at(activated, activated + 1), ctx, null],
    ['start = activatedAt − 1 ms', at(activated - 1, activated), ctx, 'BEFORE_ACTIVATION'],
    ['never activated', at(now - HOUR, now), { ...ctx, activatedAtMs: null }, 'BEFORE_ACTIVATION'],
    ['no maxLateDays: years late is fine', at(activated, activated + 1), ctx, null],
    ['start = now − maxLateDays', at(now - 30 * DAY, now - 30 * DAY), { ...ctx, maxLateDays: 30 }, null],
    ['start = now − maxLateDays − 1 ms', at(now - 30 * DAY - 1, now - 30 * DAY), { ...ctx, maxLateDays: 30 }, 'TOO_OLD'],
    ['maxLateDays 0', at(now - 1, now), { ...ctx, maxLateDays: 0 }, 'TOO_OLD'],
    // order: BEFORE_ACTIVATION, then TOO_OLD, then CLOCK_AHEAD
    ['before activation and ahead', at(now - 1, now + DAY), { ...ctx, activatedAtMs: now }, 'BEFORE_ACTIVATION'],
    ['never activated and ahead', at(now, now + DAY), { ...ctx, activatedAtMs: null }, 'BEFORE_ACTIVATION'],
    ['before activation and too old', at(activated - 1, activated), { ...ctx, maxLateDays: 1 }, 'BEFORE_ACTIVATION'],
    ['too old and ahead', at(now - 2 * DAY, now + HOUR), { ...ctx, maxLateDays: 1 }, 'TOO_OLD'],
  ];
  for (const [name, times, context, code] of cases) {
    const result = checkRecordTime(times, context);
    t.equal(result?.code ?? null, code, name);
    if (result) {
      t.equal(result.retryable, result.code === 'CLOCK_AHEAD', `${name}: retryable`);
      t.match(result.message, /^(start|end): /, `${name}: message names the field`);
    }
  }
});

// ----------------------------------------------------------------------------------------------
// Properties

t.test('property: arbitrary bytes never throw and always give a result', async (t) => {
  const fragments = fc.constantFrom('{', '}', '[', ']', '"', ':', ',', ' ', '\\', '1', '-', '.', 'e', '0', '1.0', '1e3', '"v"', '"batch"', '"records"', '"seq"', '"up"', 'null', 'true', '\\u0000', '99999999999999999999');
  const inputs = fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
    fc.array(fragments, { maxLength: 80 }).map((parts) => Buffer.from(parts.join(''))),
    fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(messageText([objectText({ ...BASE, host: text })]).replace('tile', text))),
    fc.jsonValue().map((value) => Buffer.from(JSON.stringify({ v: 1, batch: 1, records: [value] }))),
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
      const bytes = Buffer.from(messageText([objectText(BASE)]));
      bytes[at % bytes.length] = byte;
      return bytes;
    }),
  );
  fc.assert(
    fc.property(inputs, (payload) => {
      const result = parseUsageMessage(payload);
      if (result.ok) return result.records.length >= 1 && result.records.every((r, i) => r.index === i);
      return /^[0-9a-f]{16}$/.test(result.payloadSha256) && typeof result.message === 'string';
    }),
    { numRuns: 2000 },
  );
  t.pass('no throw');
});

interface GeneratedRecord {
  seq: bigint;
  startMs: number;
  spanMs: number;
  up: bigint;
  down: bigint;
  host: string | undefined;
  ip: string | undefined;
  port: number | undefined;
  proto: string | undefined;
  iface: string | undefined;
  pkg: string | undefined;
}

const MIN_MS = Date.UTC(2000, 0, 2);
const MAX_MS = Date.UTC(2099, 11, 30);
const IDN_HOSTS = ['bücher.example', 'münchen.de', '例え.jp', 'tile.amap.com', 'a-b.c.example'];

const recordArb: fc.Arbitrary<GeneratedRecord> = fc.record({
  seq: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
  startMs: fc.integer({ min: MIN_MS, max: MAX_MS }),
  spanMs: fc.integer({ min: 0, max: DAY }),
  up: fc.bigInt({ min: 0n, max: TWO_40 }),
  down: fc.bigInt({ min: 0n, max: TWO_40 }),
  host: fc.option(fc.oneof(fc.domain(), fc.constantFrom(...IDN_HOSTS)), { nil: undefined }),
  ip: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((v4) => `::ffff:${v4}`)), { nil: undefined }),
  port: fc.option(fc.integer({ min: 0, max: 65_535 }), { nil: undefined }),
  proto: fc.option(fc.constantFrom('tcp', 'udp', 'icmp', 'other'), { nil: undefined }),
  iface: fc.option(fc.constantFrom('tbox', 'hotspot'), { nil: undefined }),
  pkg: fc.option(fc.string({ unit: 'grapheme', maxLength: 60 }), { nil: undefined }),
});

/** Equivalent spellings: key order, whitespace, offsets, extra fraction digits, host case, explicit default iface. */
interface Spelling {
  order: number[];
  space: string;
  startOffsetMin: number;
  endOffsetMin: number;
  extraDigits: string;
  upperHost: boolean[];
  trailingDot: boolean;
  upperIp: boolean;
  explicitIface: boolean;
  nulls: boolean;
  unknown: boolean;
}

const spellingArb: fc.Arbitrary<Spelling> = fc.record({
  order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 }),
  space: fc.constantFrom('', ' ', '\n  ', '\t', ' \r\n '),
  startOffsetMin: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
  endOffsetMin: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
  extraDigits: fc.stringMatching(/^[0-9]{0,6}$/),
  upperHost: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
  trailingDot: fc.boolean(),
  upperIp: fc.boolean(),
  explicitIface: fc.boolean(),
  nulls: fc.boolean(),
  unknown: fc.boolean(),
});

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** `ms` written in a fixed offset, with `extraDigits` beyond the milliseconds (truncated by the parser). */
function formatAt(ms: number, offsetMin: number, extraDigits: string): string {
  const wall = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
  const abs = Math.abs(offsetMin);
  const offset = offsetMin === 0 && extraDigits.length % 2 === 1 ? 'Z' : `${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
  return `${wall}${extraDigits}${offset}`;
}

function canonicalSpelling(): Spelling {
  return {
    order: Array.from({ length: 16 }, (_, i) => i),
    space: '',
    startOffsetMin: 480,
    endOffsetMin: 480,
    extraDigits: '',
    upperHost: [],
    trailingDot: false,
    upperIp: false,
    explicitIface: false,
    nulls: false,
    unknown: false,
  };
}

function recordJson(r: GeneratedRecord, s: Spelling): string {
  const fields: Array<[string, string]> = [
    ['seq', String(r.seq)],
    ['start', json(formatAt(r.startMs, s.startOffsetMin, s.extraDigits))],
    ['end', json(formatAt(r.startMs + r.spanMs, s.endOffsetMin, s.extraDigits))],
    ['up', String(r.up)],
    ['down', String(r.down)],
  ];
  const optional = (key: string, raw: string | undefined) => {
    if (raw !== undefined) fields.push([key, raw]);
    else if (s.nulls) fields.push([key, 'null']);
  };
  const host = r.host === undefined ? undefined : [...r.host].map((c, i) => (s.upperHost[i % 64] ? c.toUpperCase() : c)).join('') + (s.trailingDot ? '.' : '');
  optional('host', host === undefined ? undefined : json(host));
  optional('ip', r.ip === undefined ? undefined : json(s.upperIp ? r.ip.toUpperCase() : r.ip));
  optional('port', r.port === undefined ? undefined : String(r.port));
  optional('proto', r.proto === undefined ? undefined : json(r.proto));
  optional('iface', r.iface === undefined ? (s.explicitIface ? '"tbox"' : undefined) : json(r.iface));
  optional('pkg', r.pkg === undefined ? undefined : json(r.pkg));
  if (s.unknown) fields.push(['future', '{"x":[1.5,2e3,12345678901234567890]}'], ['note', '"1.0"']);
  const ordered = fields.map((field, i) => ({ field, key: s.order[i] ?? i })).sort((a, b) => a.key - b.key);
  const w = s.space;
  return `{${w}${ordered.map(({ field: [k, v] }) => `${json(k)}${w}:${w}${v}`).join(`,${w}`)}${w}}`;
}

function parseGenerated(records: GeneratedRecord[], s: Spelling): UsageRecord[] {
  const w = s.space;
  const text = `{${w}"records":${w}[${records.map((r) => recordJson(r, s)).join(`,${w}`)}],${w}"batch":${w}9,"v":1${w}}`;
  // Any byte count up to 2^40 each, over any span: a 1 Tbit/s link (7.5e12 bytes a minute) allows them all.
  const result = parseUsageMessage(Buffer.from(text, 'utf8'), { maxLinkMbps: 1_000_000 });
  if (!result.ok) throw new Error(`rejected: ${result.message}\n${text}`);
  return result.records.map((r) => {
    if (!r.ok) throw new Error(`record rejected: ${r.message}\n${text}`);
    return r.record;
  });
}

t.test('property: valid messages round-trip through equivalent spellings', async (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 5 }), spellingArb, (records, spelling) => {
      const original = parseGenerated(records, canonicalSpelling());
      const respelled = parseGenerated(records, spelling);
      records.forEach((r, i) => {
        const a = original[i]!;
        if (a.seq !== Number(r.seq) || a.up !== r.up || a.down !== r.down) throw new Error('values changed');
        if (a.startMs !== r.startMs || a.endMs !== r.startMs + r.spanMs) throw new Error('instants changed');
        if (r.host !== undefined && !a.hostMatchable) throw new Error(`host ${r.host} did not normalise`);
      });
      return original.every((a, i) => sameUsageRecord(a, respelled[i]!) && a.seq === respelled[i]!.seq);
    }),
    { numRuns: 500 },
  );
  t.pass('round-trips');
});

const COMPARED: Array<keyof UsageRecord> = ['startMs', 'endMs', 'up', 'down', 'host', 'ip', 'port', 'proto', 'iface', 'pkg'];

/** A different value for one compared field (absent ↔ present included). */
function changeField(r: UsageRecord, field: keyof UsageRecord, pick: number): UsageRecord {
  const cycle = <T>(values: T[], current: T): T => {
    const others = values.filter((v) => v !== current);
    return others[pick % others.length]!;
  };
  switch (field) {
    case 'startMs':
      return { ...r, startMs: r.startMs + (pick % 2 ? 1 : -1) };
    case 'endMs':
      return { ...r, endMs: r.endMs + (pick % 2 ? 1 : -1) };
    case 'up':
      return { ...r, up: r.up + 1n };
    case 'down':
      return { ...r, down: r.down === 0n ? 1n : r.down - 1n };
    case 'host':
      return { ...r, host: cycle([null, 'a.example', 'b.example', `${r.host}x`], r.host) };
    case 'ip':
      return { ...r, ip: cycle([null, '1.2.3.4', '2001:db8::1', '::1'], r.ip) };
    case 'port':
      return { ...r, port: cycle([null, 0, 443, 65_535, ((r.port ?? 0) + 1) % 65_536], r.port) };
    case 'proto':
      return { ...r, proto: cycle([null, 'tcp', 'udp', 'icmp', 'other'] as const, r.proto) };
    case 'iface':
      return { ...r, iface: r.iface === 'tbox' ? 'hotspot' : 'tbox' };
    case 'pkg':
      return { ...r, pkg: cycle([null, '', 'com.example', `${r.pkg}x`], r.pkg) };
    default:
      throw new Error(`not compared: ${field}`);
  }
}

t.test('property: changing any one compared field makes records different', async (t) => {
  fc.assert(
    fc.property(recordArb, fc.constantFrom(...COMPARED), fc.nat(), (generated, field, pick) => {
      const [a] = parseGenerated([generated], canonicalSpelling());
      const b = changeField(a!, field, pick);
      return sameUsageRecord(a!, { ...a! }) && !sameUsageRecord(a!, b) && !sameUsageRecord(b, a!);
    }),
    { numRuns: 1000 },
  );
  t.pass('different');
});

t.test('the link limit follows the catalog billing.maxLinkMbps', async (t) => {
  const text = messageText([objectText({ ...BASE, up: '1000000', down: '0' })]);
  // 1,000,000 bytes over 60 s is 0.13 Mbit/s: a 1 Mbit/s limit allows 7,500,000 bytes over 60 s.
  const loose = parseUsageMessage(Buffer.from(text), { maxLinkMbps: 1 });
  t.ok(loose.ok && loose.records[0]!.ok);
  const tight = parseUsageMessage(Buffer.from(messageText([objectText({ ...BASE, up: '7500001', down: '0' })])), { maxLinkMbps: 1 });
  t.ok(tight.ok && !tight.records[0]!.ok);
  t.match(tight.ok && !tight.records[0]!.ok ? tight.records[0]!.message : '', /^up \+ down: 7500001 bytes in 60000 ms is more than a 1 Mbit\/s link carries \(at most 7500000 bytes/);
  t.equal(maxLinkBytes({ startMs: 0, endMs: 86_400_000 }, DEFAULT_MAX_LINK_MBPS), 108_000_000_000_000n, '10 Gbit/s for 24 h');
});
