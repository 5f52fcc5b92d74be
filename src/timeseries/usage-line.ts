import { escape } from '@influxdata/influxdb-client';

/** The measurement every point goes to (Grafana and the README's queries use this name). */
export const USAGE_MEASUREMENT = 'usage';

/**
 * One point: the bytes of one (vehicle, app, payer, kind) whose records started in one minute, summed
 * over every allocation the ledger holds for them. Never a record: no record id is ever a tag.
 */
export interface UsagePoint {
  /** the minute start, epoch ms (the point's timestamp, so a rewrite of the minute overwrites it) */
  minuteMs: number;
  vin: string;
  app: string;
  /** the payer of the allocations (`allocations.payer`) */
  sponsor: string;
  kind: string;
  /** exact: int8 sums are read as strings and kept as bigint */
  bytes: bigint;
}

/**
 * InfluxDB line protocol for one point, precision `s`:
 * `usage,app=navigation,kind=sponsored,sponsor=amap,vin=LSV… bytes=53024i 1795483860`.
 * Written by hand rather than with the client's Point because Point.intField goes through parseInt and
 * loses integers above 2^53; tags are in key order (what InfluxDB sorts to anyway) and escaped by the
 * client's own escaper.
 */
export function formatUsageLine(point: UsagePoint): string {
  if (point.minuteMs % 60_000 !== 0 || !Number.isSafeInteger(point.minuteMs)) throw new RangeError(`minuteMs must be a minute boundary, got ${point.minuteMs}`);
  if (point.bytes < 0n || point.bytes > 9_223_372_036_854_775_807n) throw new RangeError(`bytes out of the int64 range: ${point.bytes}`);
  for (const [name, value] of [['vin', point.vin], ['app', point.app], ['sponsor', point.sponsor], ['kind', point.kind]] as const) {
    // InfluxDB drops a tag with an empty value, which would merge this series into another one.
    if (value === '') throw new RangeError(`tag ${name} is empty`);
  }
  const tags = `app=${escape.tag(point.app)},kind=${escape.tag(point.kind)},sponsor=${escape.tag(point.sponsor)},vin=${escape.tag(point.vin)}`;
  return `${escape.measurement(USAGE_MEASUREMENT)},${tags} bytes=${point.bytes}i ${point.minuteMs / 1000}`;
}
