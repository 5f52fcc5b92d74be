import { dayOf } from '../../src/shared/time.js';
import { TrafficModel, type Flow } from '../fleet/traffic-model.js';
import type { CatalogTraffic } from '../fleet/catalog-traffic.js';
import { createRng } from '../fleet/prng.js';

/**
 * A carrier's IoT platform, simulated (issue 13): from a fleet's ground truth — every flow each T-Box really
 * moved, from the fleet simulator's traffic model — it writes the carrier's daily usage files (CSV
 * `carrier-usage/1`, src/assurance/README.md), one file per day with a line per card, and it says what the
 * T-Boxes really sent to the ledger. Faults are injected on either side, and each one is named with the
 * card-days it must make the reconciliation flag, so a test can require exactly those and nothing else.
 * Pure and deterministic for a seed.
 */

/** A vehicle's card over [from, to) (epoch ms; null: open). */
export interface SimBinding {
  vin: string;
  iccid: string;
  from: number | null;
  to: number | null;
}

export interface CarrierFaults {
  /** this T-Box reports only (1 − fraction) of each flow's bytes (a miscounting unit) */
  underReport?: { vin: string; fraction: number };
  /** this T-Box's records of that day (carrier timezone) never reach the platform */
  dayNotSent?: { vin: string; day: string };
  /** the card carries `bytes` more that day, moved by another device (the card taken out of the car) */
  otherDevice?: { iccid: string; day: string; bytes: bigint };
  /** that day's file is delivered twice under the same file id */
  redeliver?: { day: string };
  /** that day's file first shows `wrongBytes` for the card; a corrected file (new id) follows */
  corrected?: { day: string; iccid: string; wrongBytes: bigint };
}

export interface CarrierFile {
  fileId: string;
  day: string;
  csv: string;
}

export interface ExpectedFinding {
  iccid: string;
  day: string;
  status: 'under' | 'carrier_only' | 'over' | 'ledger_only';
  fault: string;
}

export interface CarrierScenario {
  /** per VIN, the flows its T-Box sends (after faults), in time order */
  sent: Map<string, Flow[]>;
  /** the carrier's files, in delivery order (a re-delivered file appears twice) */
  files: CarrierFile[];
  /** the card-days the faults must make the reconciliation flag: nothing else may be flagged */
  expected: ExpectedFinding[];
  /** the carrier's bytes per `iccid day` */
  carrierBytes: Map<string, bigint>;
}

/** The carrier counts each flow rounded up to this many bytes (its per-session rounding), well within the tolerance's floor. */
export const CARRIER_ROUNDING = 256n;

/** Every flow each vehicle's T-Box moves over `days` whole days from `startMs`, from the fleet's traffic model. */
export function groundTruth(traffic: CatalogTraffic, vins: readonly string[], startMs: number, days: number, seed: string): Map<string, Flow[]> {
  const truth = new Map<string, Flow[]>();
  for (const vin of vins) {
    const model = new TrafficModel(traffic, createRng(`${seed}:${vin}:traffic`));
    const flows: Flow[] = [];
    for (let minute = 0; minute < days * 1440; minute++) flows.push(...model.nextMinute(startMs + minute * 60_000));
    // The model's minute windows may end a flow a little past the last window; keep what starts inside.
    truth.set(vin, flows.filter((f) => f.startMs >= startMs && f.startMs < startMs + days * 86_400_000));
  }
  return truth;
}

function cardAt(bindings: readonly SimBinding[], vin: string, ms: number): string | null {
  return bindings.find((b) => b.vin === vin && (b.from === null || b.from <= ms) && (b.to === null || ms < b.to))?.iccid ?? null;
}

const roundUp = (bytes: bigint) => ((bytes + CARRIER_ROUNDING - 1n) / CARRIER_ROUNDING) * CARRIER_ROUNDING;

export function simulateCarrier(options: { truth: Map<string, Flow[]>; bindings: readonly SimBinding[]; timezone: string; faults: CarrierFaults; filePrefix?: string }): CarrierScenario {
  const { truth, bindings, timezone, faults } = options;
  const prefix = options.filePrefix ?? 'carrier';
  const carrier = new Map<string, bigint>();
  const add = (iccid: string, day: string, bytes: bigint) => carrier.set(`${iccid} ${day}`, (carrier.get(`${iccid} ${day}`) ?? 0n) + bytes);
  const sent = new Map<string, Flow[]>();
  for (const [vin, flows] of truth) {
    const out: Flow[] = [];
    for (const flow of flows) {
      const day = dayOf(flow.startMs, timezone);
      const iccid = cardAt(bindings, vin, flow.startMs);
      if (iccid !== null) add(iccid, day, roundUp(BigInt(flow.up) + BigInt(flow.down)));
      if (faults.dayNotSent?.vin === vin && faults.dayNotSent.day === day) continue;
      if (faults.underReport?.vin === vin) {
        const keep = 1 - faults.underReport.fraction;
        out.push({ ...flow, up: Math.floor(flow.up * keep), down: Math.floor(flow.down * keep) });
      } else out.push(flow);
    }
    sent.set(vin, out);
  }
  if (faults.otherDevice) add(faults.otherDevice.iccid, faults.otherDevice.day, faults.otherDevice.bytes);

  const days = [...new Set([...carrier.keys()].map((k) => k.split(' ')[1]!))].sort();
  const files: CarrierFile[] = [];
  const csvOf = (entries: Array<[string, bigint]>) => `iccid,date,bytes,apn\n${entries.map(([key, bytes]) => `${key.replace(' ', ',')},${bytes},cmiot.tbox`).join('\n')}\n`;
  for (const day of days) {
    const entries = [...carrier.entries()].filter(([key]) => key.endsWith(` ${day}`)).sort(([a], [b]) => (a < b ? -1 : 1));
    const fileId = `${prefix}-${day}`;
    if (faults.corrected?.day === day) {
      const wrong = entries.map(([key, bytes]): [string, bigint] => [key, key === `${faults.corrected!.iccid} ${day}` ? faults.corrected!.wrongBytes : bytes]);
      files.push({ fileId, day, csv: csvOf(wrong) });
      const fixed = entries.filter(([key]) => key === `${faults.corrected!.iccid} ${day}`);
      files.push({ fileId: `${fileId}-corrected`, day, csv: csvOf(fixed) });
    } else files.push({ fileId, day, csv: csvOf(entries) });
    if (faults.redeliver?.day === day) files.push({ fileId, day, csv: files[files.length - 1]!.csv });
  }

  const expected: ExpectedFinding[] = [];
  if (faults.underReport) {
    const vin = faults.underReport.vin;
    const cards = new Set<string>();
    for (const flow of truth.get(vin) ?? []) {
      const iccid = cardAt(bindings, vin, flow.startMs);
      if (iccid !== null) cards.add(`${iccid} ${dayOf(flow.startMs, timezone)}`);
    }
    for (const key of cards) {
      const [iccid, day] = key.split(' ') as [string, string];
      if (faults.dayNotSent?.vin === vin && faults.dayNotSent.day === day) continue;
      expected.push({ iccid, day, status: 'under', fault: `T-Box ${vin} under-reports ${faults.underReport.fraction * 100} %` });
    }
  }
  if (faults.dayNotSent) {
    const { vin, day } = faults.dayNotSent;
    const cards = new Set((truth.get(vin) ?? []).filter((f) => dayOf(f.startMs, timezone) === day).map((f) => cardAt(bindings, vin, f.startMs)).filter((c): c is string => c !== null));
    for (const iccid of cards) expected.push({ iccid, day, status: 'carrier_only', fault: `${vin}: the records of ${day} were never sent` });
  }
  if (faults.otherDevice) {
    const { iccid, day } = faults.otherDevice;
    if (!expected.some((e) => e.iccid === iccid && e.day === day)) expected.push({ iccid, day, status: 'under', fault: `card ${iccid} used by another device on ${day}` });
  }
  expected.sort((a, b) => (a.iccid < b.iccid ? -1 : a.iccid > b.iccid ? 1 : a.day < b.day ? -1 : 1));
  return { sent, files, expected, carrierBytes: carrier };
}
