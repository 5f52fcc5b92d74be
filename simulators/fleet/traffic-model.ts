import type { AppTraffic, Behaviour, CatalogTraffic, Endpoint } from './catalog-traffic.js';
import type { Rng } from './prng.js';
import type { SimRecord } from './usage-message.js';

/** A metered flow before the T-Box numbers it. */
export type Flow = Omit<SimRecord, 'seq'>;

const MINUTE_MS = 60_000;
const KB = 1_000;
const MB = 1_000_000;
/** DESIGN 3.1: up and down are at most 2^40. */
const MAX_BYTES = 2 ** 40;

/**
 * One vehicle's traffic, minute by minute, in simulated time. Pure and deterministic: the same catalog,
 * stream and sequence of windows give the same flows. The vehicle alternates between trips and parking:
 *
 * - telemetry: a trickle of small reports (about two a minute driving, one every few minutes parked);
 * - navigation: bursts of map tiles and route requests while a trip uses navigation;
 * - streams (music, FM): one flow record per minute at the station's bit rate while playing;
 * - hotspot: a passenger's phone on the in-car Wi-Fi (`iface: hotspot`), several flows a minute;
 * - OTA: now and then, while parked, a download of hundreds of MB metered per minute until done;
 * - remote control: rare small commands; unknown hosts (`general`), a few of them with zero bytes.
 *
 * Rates are plausible orders of magnitude for a connected car, not measurements of any fleet.
 */
export class TrafficModel {
  private readonly byBehaviour = new Map<Behaviour, AppTraffic[]>();
  private minuteIndex = 0;
  private driving: boolean;
  private modeEndsAt: number;
  private navigating = false;
  private stream: AppTraffic | null = null;
  private hotspotOn = false;
  private otaLeftBytes = 0;
  private ota: AppTraffic | null = null;

  constructor(
    traffic: CatalogTraffic,
    private readonly rng: Rng,
  ) {
    for (const app of traffic.apps) {
      const list = this.byBehaviour.get(app.behaviour) ?? [];
      list.push(app);
      this.byBehaviour.set(app.behaviour, list);
    }
    this.driving = rng.chance(0.6);
    this.modeEndsAt = this.drawModeLength();
    if (this.driving) this.startTrip();
  }

  get isDriving(): boolean {
    return this.driving;
  }

  /** The flows that ended in the minute `[windowStartMs, windowStartMs + 60 s]`, ordered by end time. */
  nextMinute(windowStartMs: number): Flow[] {
    const flows: Flow[] = [];
    const w = windowStartMs;
    if (this.driving) {
      for (const app of this.apps('telemetry')) this.repeat(2, () => flows.push(this.shortFlow(w, app, 1_200, 300, 3_000)));
      if (this.navigating) for (const app of this.apps('navigation')) this.repeat(1, () => flows.push(this.shortFlow(w, app, 6 * KB, 150 * KB, 20_000)));
      if (this.stream) flows.push(this.longFlow(w, this.stream, this.streamDownPerMinute(this.stream)));
      for (const app of this.apps('burst')) this.repeat(0.3, () => flows.push(this.shortFlow(w, app, 4 * KB, 60 * KB, 10_000)));
      for (const app of this.apps('hotspot')) if (this.hotspotOn) this.repeat(3, () => flows.push(this.shortFlow(w, app, 60 * KB, 1.5 * MB, 30_000, 1.3)));
      for (const app of this.apps('general')) this.repeat(0.3, () => flows.push(this.generalFlow(w, app)));
      for (const app of this.apps('control')) this.repeat(0.02, () => flows.push(this.shortFlow(w, app, 600, 1_500, 2_000)));
      if (this.stream && this.rng.chance(0.03)) this.stream = null;
      if (this.hotspotOn && this.rng.chance(0.08)) this.hotspotOn = false;
    } else {
      for (const app of this.apps('telemetry')) this.repeat(0.2, () => flows.push(this.shortFlow(w, app, 1_000, 250, 3_000)));
      for (const app of this.apps('control')) this.repeat(0.01, () => flows.push(this.shortFlow(w, app, 600, 1_500, 2_000)));
      for (const app of this.apps('general')) this.repeat(0.05, () => flows.push(this.generalFlow(w, app)));
      const otaApps = this.apps('ota');
      if (this.otaLeftBytes === 0 && otaApps.length > 0 && this.rng.chance(0.003)) {
        this.ota = this.rng.pick(otaApps);
        this.otaLeftBytes = clamp(Math.round(this.rng.logNormal(300 * MB, 0.6)), 20 * MB, 2_000 * MB);
      }
    }
    if (this.ota && this.otaLeftBytes > 0) {
      // A download keeps going whether the car drives or not, at a few MB a minute over LTE.
      const chunk = Math.min(this.otaLeftBytes, clamp(Math.round(this.rng.logNormal(15 * MB, 0.3)), MB, 60 * MB));
      this.otaLeftBytes -= chunk;
      flows.push(this.longFlow(w, this.ota, chunk));
    }
    this.minuteIndex++;
    if (this.minuteIndex >= this.modeEndsAt) {
      this.driving = !this.driving;
      this.modeEndsAt = this.minuteIndex + this.drawModeLength();
      if (this.driving) this.startTrip();
      else {
        this.navigating = false;
        this.stream = null;
        this.hotspotOn = false;
      }
    }
    // Stable: flows ending at the same millisecond keep their generation order.
    return flows.sort((a, b) => a.endMs - b.endMs);
  }

  private apps(behaviour: Behaviour): readonly AppTraffic[] {
    return this.byBehaviour.get(behaviour) ?? [];
  }

  private startTrip(): void {
    this.navigating = this.apps('navigation').length > 0 && this.rng.chance(0.7);
    const streams = this.apps('stream');
    this.stream = streams.length > 0 && this.rng.chance(0.55) ? this.rng.pick(streams) : null;
    this.hotspotOn = this.rng.chance(0.15);
  }

  /** Minutes in the current mode: trips of ~25 min, parking of ~90 min (log-normal, clamped). */
  private drawModeLength(): number {
    return this.driving ? clamp(Math.round(this.rng.logNormal(25, 0.6)), 5, 180) : clamp(Math.round(this.rng.logNormal(90, 1)), 10, 720);
  }

  /** Poisson arrivals with the given mean per minute. */
  private repeat(mean: number, emit: () => void): void {
    let t = this.rng.exponential(1);
    while (t < mean) {
      emit();
      t += this.rng.exponential(1);
    }
  }

  private shortFlow(w: number, app: AppTraffic, upMedian: number, downMedian: number, maxDurationMs: number, sigma = 0.8): Flow {
    const endpoint = this.rng.pick(app.endpoints);
    const endMs = w + this.rng.int(1, MINUTE_MS);
    const startMs = endMs - this.rng.int(50, maxDurationMs);
    return flow(app.app, endpoint, startMs, endMs, bytes(this.rng.logNormal(upMedian, sigma)), bytes(this.rng.logNormal(downMedian, sigma)));
  }

  /** A long flow metered per minute: one record for the whole window. */
  private longFlow(w: number, app: AppTraffic, down: number): Flow {
    const endpoint = this.rng.pick(app.endpoints);
    return flow(app.app, endpoint, w, w + MINUTE_MS, bytes(down * (0.01 + this.rng.float() * 0.02)), bytes(down));
  }

  private generalFlow(w: number, app: AppTraffic): Flow {
    const f = this.shortFlow(w, app, 2 * KB, 20 * KB, 5_000, 1);
    // A connection that never completed its handshake: stored and deduplicated, but never billed (DESIGN 4.2).
    if (this.rng.chance(0.02)) return { ...f, up: 0, down: 0 };
    return f;
  }

  /** ~320 kbit/s music, ~96 kbit/s talk radio, ±20 % per minute. */
  private streamDownPerMinute(app: AppTraffic): number {
    const kbps = /fm|radio|podcast/.test(app.app) ? 96 : 320;
    return (kbps * 1_000 * 60) / 8 * (0.8 + this.rng.float() * 0.4);
  }
}

function flow(app: string, e: Endpoint, startMs: number, endMs: number, up: number, down: number): Flow {
  const f: Flow = { startMs, endMs, up, down, iface: e.iface, app };
  if (e.host !== undefined) f.host = e.host;
  if (e.ip !== undefined) f.ip = e.ip;
  f.port = e.port;
  f.proto = e.proto;
  if (e.pkg !== undefined) f.pkg = e.pkg;
  return f;
}

function bytes(x: number): number {
  return clamp(Math.round(x), 0, MAX_BYTES);
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
