import t from 'tap';
import fc from 'fast-check';
import { formatUsageLine, type UsagePoint } from '../../src/timeseries/usage-line.js';

const minute = Date.UTC(2026, 10, 24, 1, 2); // 2026-11-24T01:02:00Z
const point = (extra: Partial<UsagePoint> = {}): UsagePoint => ({ minuteMs: minute, vin: 'LSVAA4182E2184521', app: 'navigation', sponsor: 'amap', kind: 'sponsored', bytes: 53024n, ...extra });

t.test('one line per point: measurement usage, the four tags in key order, an integer field, the minute in seconds', async (t) => {
  t.equal(formatUsageLine(point()), `usage,app=navigation,kind=sponsored,sponsor=amap,vin=LSVAA4182E2184521 bytes=53024i ${minute / 1000}`);
});

t.test('bytes are exact beyond 2^53 (Point.intField would round them)', async (t) => {
  t.match(formatUsageLine(point({ bytes: 9_007_199_254_740_993n })), / bytes=9007199254740993i /);
  t.match(formatUsageLine(point({ bytes: 9_223_372_036_854_775_807n })), / bytes=9223372036854775807i /);
  t.throws(() => formatUsageLine(point({ bytes: 9_223_372_036_854_775_808n })), RangeError, 'beyond int64');
  t.throws(() => formatUsageLine(point({ bytes: -1n })), RangeError);
});

t.test('tag values are escaped per the line protocol', async (t) => {
  t.equal(
    formatUsageLine(point({ app: 'a b', sponsor: 'x,y', kind: 'k=v' })),
    `usage,app=a\\ b,kind=k\\=v,sponsor=x\\,y,vin=LSVAA4182E2184521 bytes=53024i ${minute / 1000}`,
  );
});

t.test('refuses what would corrupt a series', async (t) => {
  t.throws(() => formatUsageLine(point({ minuteMs: minute + 1_000 })), RangeError, 'not a minute start');
  t.throws(() => formatUsageLine(point({ sponsor: '' })), /tag sponsor is empty/, 'InfluxDB would drop the tag and merge series');
});

t.test('property: the same point always gives the same line, and its timestamp is the minute start', async () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100_000_000 }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), fc.stringMatching(/^[A-Za-z0-9-]{1,17}$/), (minuteIndex, bytes, vin) => {
      const p = point({ minuteMs: minuteIndex * 60_000, bytes, vin });
      const line = formatUsageLine(p);
      const [series, field, timestamp] = line.split(' ');
      return line === formatUsageLine({ ...p }) && field === `bytes=${bytes}i` && Number(timestamp) * 1000 === p.minuteMs && series === `usage,app=navigation,kind=sponsored,sponsor=amap,vin=${vin}`;
    }),
  );
});
