import pg from 'pg';
import { memoryMiB, rssWatcher } from './proc-stats.js';
import { scrapeMetrics, type BenchService } from './service-process.js';

/**
 * The outage phase (issue 11): the database stalls while the fleet offers far more usage than
 * INGEST_MAX_PENDING_BYTES. A side connection holds an ACCESS EXCLUSIVE lock on usage_records, so every
 * batch waits on it (the service itself sees a database that does not answer, not one that is down);
 * the load generator publishes every message at once, QoS 1. The service's RSS is sampled while the lock
 * is held; then the lock goes and every message must be acked. See bench/README.md, "Outage".
 */

const MiB = 1_048_576;

interface OutageSettings {
  vehicles: number;
  messagesPerVehicle: number;
  recordsPerMessage: number;
  /** INGEST_MAX_PENDING_BYTES for this phase, unless --env sets it; null = the service's default */
  maxPendingBytes: number | null;
}

// Many vehicles, few messages each (within the protocol's 16 unacked): the embedded broker holds back a
// device by not reading its socket, so what one connection can push in is about one socket read; a fleet
// is what fills ingest. Full: 100,000 messages of 10 records (about 190 MiB) from 10,000 vehicles against
// the service's bound (INGEST_MAX_PENDING_BYTES, default 16 MiB). Quick: 20,000 from 1,000 (about 38 MiB).
const SETTINGS: Record<'quick' | 'full', OutageSettings> = {
  quick: { vehicles: 1_000, messagesPerVehicle: 20, recordsPerMessage: 10, maxPendingBytes: null },
  full: { vehicles: 10_000, messagesPerVehicle: 10, recordsPerMessage: 10, maxPendingBytes: null },
};

/**
 * Device keepalive for this phase, seconds. A device that the embedded broker does not read is
 * disconnected after 1.5 × its keepalive (its PINGREQ stays unread), and a T-Box would then reconnect and
 * resend (DESIGN 3.2); the generator does not resend, so its devices use a keepalive longer than the stall
 * and the recovery, as T-Boxes on cellular commonly do.
 */
const KEEPALIVE_SECONDS = 600;
/** The lock is released once the service has taken nothing more for this long (or after STALL_MAX_MS). */
const QUIET_MS = 2_000;
const STALL_MAX_MS = 45_000;
const RECOVERY_TIMEOUT_MS = 600_000;

export function outageVehicles(mode: 'quick' | 'full'): number {
  return SETTINGS[mode].vehicles;
}

interface Generator {
  call<T = unknown>(command: Record<string, unknown>): Promise<T>;
}

interface GateSample {
  open: number;
  pendingBytes: number;
  maxPendingBytes: number;
  waiting: number;
  closures: number;
}

/** The gate's metrics from the service's GET /metrics. */
async function scrapeGate(httpUrl: string): Promise<GateSample | null> {
  const value = await scrapeMetrics(httpUrl);
  if (!value) return null;
  return {
    open: value('ingest_gate_open'),
    pendingBytes: value('ingest_pending_bytes'),
    maxPendingBytes: value('ingest_max_pending_bytes'),
    waiting: value('ingest_gate_waiting_messages'),
    closures: value('ingest_gate_closed_total'),
  };
}

export async function runOutagePhase(context: {
  mode: 'quick' | 'full';
  svc: BenchService;
  generator: Generator;
  fleet: ReadonlyArray<{ vin: string; secret: string }>;
  /** the run's --env: an INGEST_MAX_PENDING_BYTES there wins */
  serviceEnv: Record<string, string>;
  connectConcurrency: number;
  log(line: string): void;
}): Promise<Record<string, unknown>> {
  const { svc, generator, log } = context;
  const settings = SETTINGS[context.mode];
  const vehicles = Math.min(settings.vehicles, context.fleet.length);
  const extraEnv: Record<string, string> = settings.maxPendingBytes !== null && !context.serviceEnv.INGEST_MAX_PENDING_BYTES ? { INGEST_MAX_PENDING_BYTES: String(settings.maxPendingBytes) } : {};

  // A fresh process: its memory is the fleet's and the stall's, not what earlier phases left.
  log(`outage: restarting the service${extraEnv.INGEST_MAX_PENDING_BYTES ? ` with INGEST_MAX_PENDING_BYTES=${extraEnv.INGEST_MAX_PENDING_BYTES}` : ''}; connecting ${vehicles.toLocaleString('en-US')} vehicles (keepalive ${KEEPALIVE_SECONDS} s)`);
  await generator.call({ cmd: 'disconnectAll' });
  await svc.restart(extraEnv);
  const connected = await generator.call<{ connected: number; failed: number; seconds: number }>({ cmd: 'connect', vehicles: context.fleet.slice(0, vehicles), concurrency: context.connectConcurrency, keepaliveSeconds: KEEPALIVE_SECONDS });
  if (connected.failed > 0) log(`  ${connected.failed} vehicles could not connect`);
  const prepared = await generator.call<{ vehicles: number; messages: number; records: number; bytes: number }>({ cmd: 'prepareFlood', vehicles, messagesPerVehicle: settings.messagesPerVehicle, recordsPerMessage: settings.recordsPerMessage });
  const before = await scrapeGate(svc.httpUrl);
  const bound = before?.maxPendingBytes ?? NaN;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const rssBefore = memoryMiB(svc.pid)?.rss ?? NaN;

  const lock = new pg.Client({ connectionString: svc.databaseUrl });
  await lock.connect();
  let result: Record<string, unknown>;
  try {
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE');
    const stalledAt = Date.now();
    log(`  database stalled (usage_records locked); ${prepared.messages.toLocaleString('en-US')} messages of ${settings.recordsPerMessage} records (${(prepared.bytes / MiB).toFixed(0)} MiB) offered at once; bound ${(bound / MiB).toFixed(0)} MiB`);
    const stalledRss = rssWatcher(svc.pid);
    const peaks = { pendingBytes: 0, waiting: 0, closed: false };
    let last = '';
    let quietSince = Date.now();
    const sample = async () => {
      const g = await scrapeGate(svc.httpUrl);
      if (!g) return;
      peaks.pendingBytes = Math.max(peaks.pendingBytes, g.pendingBytes);
      peaks.waiting = Math.max(peaks.waiting, g.waiting);
      if (g.open === 0) peaks.closed = true;
      const now = `${g.pendingBytes}/${g.waiting}`;
      if (now !== last) quietSince = Date.now();
      last = now;
    };
    const flood = await generator.call<{ offered: number; seconds: number; generatorRssMiB: number }>({ cmd: 'flood' });
    // Held until the service takes nothing more: pending bytes and held messages unchanged for QUIET_MS.
    while (Date.now() - stalledAt < STALL_MAX_MS && (Date.now() - quietSince < QUIET_MS || last === '')) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await sample();
    const peakRssMiB = stalledRss.stop();
    await lock.query('ROLLBACK');
    const stalledSeconds = (Date.now() - stalledAt) / 1000;
    log(`  stalled ${stalledSeconds.toFixed(1)} s: RSS ${rssBefore.toFixed(0)} → peak ${peakRssMiB.toFixed(0)} MiB; pending peak ${(peaks.pendingBytes / MiB).toFixed(1)} MiB, ${peaks.waiting.toLocaleString('en-US')} messages held at the broker; gate ${peaks.closed ? 'closed' : 'never closed'}`);

    const recoveryRss = rssWatcher(svc.pid);
    const recovered = await generator.call<{ offered: number; acked: number; accepted: number; messageErrors: number; seconds: number }>({ cmd: 'floodAcked', timeoutMs: RECOVERY_TIMEOUT_MS });
    const recoveryPeakRssMiB = recoveryRss.stop();
    const after = await scrapeGate(svc.httpUrl);
    log(`  database back: ${recovered.acked.toLocaleString('en-US')}/${recovered.offered.toLocaleString('en-US')} messages acked in ${recovered.seconds.toFixed(1)} s (${recovered.accepted.toLocaleString('en-US')} records accepted); RSS peak ${recoveryPeakRssMiB.toFixed(0)} MiB while catching up`);
    result = {
      vehicles: connected.connected,
      keepaliveSeconds: KEEPALIVE_SECONDS,
      recordsPerMessage: settings.recordsPerMessage,
      messagesOffered: flood.offered,
      recordsOffered: prepared.records,
      offeredMiB: Math.round((prepared.bytes / MiB) * 10) / 10,
      boundMiB: Math.round((bound / MiB) * 10) / 10,
      rssBeforeMiB: Math.round(rssBefore),
      peakRssMiB: Math.round(peakRssMiB),
      peakPendingMiB: Math.round((peaks.pendingBytes / MiB) * 10) / 10,
      peakHeldMessages: peaks.waiting,
      gateClosed: peaks.closed,
      gateClosures: after && before ? after.closures - before.closures : null,
      stalledSeconds: Math.round(stalledSeconds * 10) / 10,
      recoveredAcked: recovered.acked,
      recoveredRecords: recovered.accepted,
      recoveryMessageErrors: recovered.messageErrors,
      recoverySeconds: Math.round(recovered.seconds * 10) / 10,
      recoveryPeakRssMiB: Math.round(recoveryPeakRssMiB),
      generatorRssMiB: flood.generatorRssMiB,
    };
  } finally {
    await lock.end().catch(() => undefined);
  }
  await generator.call({ cmd: 'disconnectAll' });
  return result;
}
