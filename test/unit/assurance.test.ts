import fc from 'fast-check';
import t from 'tap';
import { computeBreakage, unusedRevenueMinor } from '../../src/assurance/breakage.js';
import { parseHeader, parseLine, splitFields, splitLines } from '../../src/assurance/carrier-csv.js';
import { allowedGap, classify, largestDiscrepancies, percentToBasisPoints, reconcile, summarize, unexplainedBytes, type Tolerance } from '../../src/assurance/reconcile.js';

const TOL: Tolerance = { basisPoints: 200n, floorBytes: 1_048_576n };

t.test('tolerance: max(2 % of the carrier, 1 MiB)', async (t) => {
  t.equal(allowedGap(0n, TOL), 1_048_576n);
  t.equal(allowedGap(100_000_000n, TOL), 2_000_000n);
  t.equal(classify(100_000_000n, 98_000_000n, TOL), 'matched');
  t.equal(classify(100_000_000n, 97_999_999n, TOL), 'under');
  t.equal(classify(100_000_000n, 102_000_001n, TOL), 'over');
  t.equal(classify(5_000_000n, 0n, TOL), 'carrier_only');
  t.equal(classify(null, 5_000_000n, TOL), 'ledger_only');
  t.equal(classify(0n, 5_000_000n, TOL), 'ledger_only');
  t.equal(classify(null, 1000n, TOL), 'matched', 'a few bytes on a card the carrier did not bill are within the floor');
  t.equal(percentToBasisPoints('2'), 200n);
  t.equal(percentToBasisPoints('2.5'), 250n);
  t.equal(percentToBasisPoints('0.05'), 5n);
});

t.test('property: within the tolerance is matched, beyond it the sign decides', async () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 45n }), fc.bigInt({ min: 0n, max: 2n ** 45n }), (carrier, ledger) => {
      const status = classify(carrier, ledger, TOL);
      const gap = carrier - ledger;
      const abs = gap < 0n ? -gap : gap;
      if (abs <= allowedGap(carrier, TOL)) return status === 'matched';
      if (ledger === 0n) return status === 'carrier_only';
      if (carrier === 0n) return status === 'ledger_only';
      return status === (gap > 0n ? 'under' : 'over');
    }),
  );
});

t.test('property: totals add up; unexplained bytes are the positive gaps of under and carrier_only', async () => {
  const figure = fc.record({ card: fc.integer({ min: 0, max: 5 }), day: fc.integer({ min: 1, max: 4 }), bytes: fc.bigInt({ min: 0n, max: 2n ** 32n }) });
  fc.assert(
    fc.property(fc.array(figure, { maxLength: 30 }), fc.array(figure, { maxLength: 30 }), (carrierRaw, ledgerRaw) => {
      const carrier = carrierRaw.map((f) => ({ iccid: `c${f.card}`, day: `2026-11-0${f.day}`, bytes: f.bytes }));
      const ledger = ledgerRaw.map((f) => ({ iccid: `c${f.card}`, vin: `v${f.card}`, day: `2026-11-0${f.day}`, bytes: f.bytes }));
      const days = reconcile(carrier, ledger, TOL);
      const delivered = new Set(carrier.map((c) => c.day));
      const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
      const { total, byStatus, daily } = summarize(days);
      if (total.carrierBytes !== sum(carrier.map((c) => c.bytes))) return false;
      if (total.ledgerBytes !== sum(ledger.filter((l) => delivered.has(l.day)).map((l) => l.bytes))) return false;
      if (total.gapBytes !== total.carrierBytes - total.ledgerBytes) return false;
      if (Object.values(byStatus).reduce((a, s) => a + s.cardDays, 0) !== days.length) return false;
      if (sum(daily.map((d) => d.unexplainedBytes)) !== total.unexplainedBytes) return false;
      if (total.unexplainedBytes !== sum(days.map(unexplainedBytes))) return false;
      const largest = largestDiscrepancies(days, 3);
      return largest.every((cd) => cd.status !== 'matched') && largest.length <= 3;
    }),
  );
});

t.test('CSV fields (RFC 4180 on one line) and lines in bounded memory', async (t) => {
  t.same(splitFields('a,"b,c","d""e",'), ['a', 'b,c', 'd"e', '']);
  t.equal(splitFields('"a'), null);
  t.equal(splitFields('a"b'), null);
  t.equal(splitFields('"a"b'), null);
  const chunks = [Buffer.from('h1,h2\r\nx'), Buffer.from('y\n'), Buffer.alloc(50, 'z'), Buffer.from('\nlast')];
  const lines = [];
  for await (const line of splitLines(chunks, 20)) lines.push(line.tooLong ? { line: line.line, tooLong: true } : { line: line.line, text: line.bytes.toString() });
  t.same(lines, [{ line: 1, text: 'h1,h2' }, { line: 2, text: 'xy' }, { line: 3, tooLong: true }, { line: 4, text: 'last' }]);
  await fc.assert(
    fc.asyncProperty(fc.array(fc.stringMatching(/^[a-z,]{0,30}$/), { maxLength: 20 }), fc.integer({ min: 1, max: 7 }), async (rows, cut) => {
      const text = rows.map((r) => `${r}\n`).join('');
      const buf = Buffer.from(text);
      const pieces: Buffer[] = [];
      for (let i = 0; i < buf.length; i += cut) pieces.push(buf.subarray(i, i + cut));
      const out: string[] = [];
      for await (const l of splitLines(pieces, 64)) out.push(l.tooLong ? '!' : l.bytes.toString());
      return JSON.stringify(out) === JSON.stringify(rows);
    }),
  );
});

t.test('header and line rules', async (t) => {
  const header = parseHeader('\uFEFFICCID,Date,Bytes,extra');
  t.ok(header.ok);
  if (!header.ok) return;
  t.same(header.header.ignored, ['extra']);
  t.match(parseLine(header.header, 2, '89860012345678901238,2026-11-01,10,x', '2026-11-30'), { ok: true, value: { iccid: '89860012345678901238', day: '2026-11-01', bytes: 10n } });
  t.match(parseLine(header.header, 2, '89860012345678901238,2026-11-01,10', '2026-11-30'), { ok: false, error: { code: 'WRONG_FIELD_COUNT' } });
  t.match(parseHeader('iccid,iccid,date,bytes'), { ok: false });
});

t.test('property: the unused revenue is the exact pro rata, rounded once', async () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 100_000n }), fc.array(fc.record({ size: fc.bigInt({ min: 1n, max: 2n ** 34n }), frac: fc.double({ min: 0, max: 1, noNaN: true }) }), { maxLength: 5 }), (price, raw) => {
      const groups = raw.map((g) => ({ sizeBytes: g.size, unusedBytes: (g.size * BigInt(Math.floor(g.frac * 1000))) / 1000n }));
      const got = unusedRevenueMinor(price, groups);
      // got − 1/2 ≤ Σ price·u/s < got + 1/2, checked with a common denominator
      const den = groups.reduce((a, g) => a * g.sizeBytes, 1n);
      const num = groups.reduce((a, g) => a + (price * g.unusedBytes * den) / g.sizeBytes, 0n);
      return 2n * num >= (2n * got - 1n) * den && 2n * num < (2n * got + 1n) * den;
    }),
  );
  const [line] = computeBreakage([{ id: 'p', price: '30.00', sizeBytes: 10n }], [], [{ pack: 'p', sizeBytes: 10n, packs: 3, bytes: 30n, unusedBytes: 5n }]);
  if (line?.expired.unusedRevenueMinor !== 1500n || line.expired.bytesUsed !== 25n) throw new Error('30.00 × 5/10 is 15.00');
});
