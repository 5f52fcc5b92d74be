import { InfluxDB, setLogger } from '@influxdata/influxdb-client';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { startPeriodicJob } from '../shared/periodic-job.js';
import { createTimeseriesMetrics } from './metrics.js';
import { ensureWatermark, fetchPoints, lockWatermark, openPointCursor, saveWatermark } from './repository.js';
import { formatUsageLine, type UsagePoint } from './usage-line.js';
import { exportableUntil, nextWindow, type ExportWindow } from './windows.js';

export const TIMESERIES_DEFAULTS = Object.freeze({
  /** How often the exporter looks for closed minutes. Points are per minute, so 10 s adds little delay. */
  intervalMs: 10_000,
  /**
   * How old a commit minute must be before it is exported. committed_at is the worker's clock when the
   * batch transaction began; the rows become visible at COMMIT, normally milliseconds later, at worst
   * seconds (lock waits between workers, a slow commit) plus clock skew between hosts. 60 s covers that
   * many times over; a row that became visible later still would miss its window.
   */
  safetyLagMs: 60_000,
  /**
   * Points per write request: InfluxDB's documented optimum is 5,000 lines (≈ 0.5 MB of line protocol,
   * gzipped on the wire). It is also the cursor's FETCH size, so memory holds two pages at most.
   */
  pageRows: 5_000,
  /** Commit time per export transaction: a backfill after a long outage advances in 10-minute steps. */
  maxWindowMs: 10 * 60_000,
  /** One write request's HTTP timeout. */
  timeoutMs: 10_000,
});

export interface TimeseriesExporterOptions {
  pool: Pool;
  clock: Clock;
  logger: Logger;
  /** the service's registry (metrics are registered on it, never on prom-client's global one) */
  registry: Registry;
  url: string;
  token: string;
  org: string;
  bucket: string;
  intervalMs?: number;
  safetyLagMs?: number;
  pageRows?: number;
  maxWindowMs?: number;
  timeoutMs?: number;
}

export interface ExportRun {
  /** the watermark after the run (epoch ms): every allocation committed before it is in InfluxDB */
  watermarkMs: number;
  /** commit windows exported by this run */
  windows: number;
  /** points written by this run (rewrites of a minute included) */
  points: number;
}

export interface TimeseriesExporter {
  /** Runs at once, then every intervalMs; a failed run is retried by the next one. */
  start(): void;
  /** Waits for the run in progress, then closes the write API. */
  stop(): Promise<void>;
  /** Exports every closed commit minute after the watermark; rejects (watermark unchanged) on failure. */
  runOnce(): Promise<ExportRun>;
}

/**
 * Usage time series for operations dashboards (DESIGN 2, 7), outside the billing path: it only reads the
 * ledger, in its own transactions, so InfluxDB being slow or down never blocks or loses billing.
 *
 * Each run takes the closed commit minutes after the watermark in windows. Per window, in one
 * transaction that holds the watermark row: stream the points those allocations change from a cursor,
 * write them page by page (one request in flight while the next page is read), and only when InfluxDB
 * accepted every page move the watermark. Any failure rolls back and the run stops; the next run starts
 * from the same watermark, so an outage is a longer window rebuilt from the ledger.
 *
 * The client never retries or buffers on its own (maxRetries 0, no flush timer, batchSize above the page
 * size): a late retry of an old sum could overwrite a newer one, and its buffer drops lines by design.
 * The ledger is the buffer.
 */
export function createTimeseriesExporter(options: TimeseriesExporterOptions): TimeseriesExporter {
  const { pool, clock } = options;
  const settings = {
    intervalMs: options.intervalMs ?? TIMESERIES_DEFAULTS.intervalMs,
    safetyLagMs: options.safetyLagMs ?? TIMESERIES_DEFAULTS.safetyLagMs,
    pageRows: options.pageRows ?? TIMESERIES_DEFAULTS.pageRows,
    maxWindowMs: options.maxWindowMs ?? TIMESERIES_DEFAULTS.maxWindowMs,
    timeoutMs: options.timeoutMs ?? TIMESERIES_DEFAULTS.timeoutMs,
  };
  if (!Number.isSafeInteger(settings.pageRows) || settings.pageRows < 1) throw new RangeError(`pageRows must be a positive integer, got ${settings.pageRows}`);
  for (const key of ['url', 'token', 'org', 'bucket'] as const) {
    if (!options[key]) throw new Error(`the time-series exporter needs ${key} (INFLUX_${key.toUpperCase()})`);
  }
  const log = options.logger.child({ component: 'timeseries' });
  // The client's own messages repeat the errors this module reports (it is a process-wide setting).
  const forward = (message: string, err?: unknown) => log.debug(err === undefined ? {} : { err: describe(err) }, message);
  setLogger({ error: forward, warn: forward });
  const writeApi = new InfluxDB({ url: options.url, token: options.token, timeout: settings.timeoutMs }).getWriteApi(options.org, options.bucket, 's', {
    batchSize: settings.pageRows + 1,
    flushInterval: 0,
    maxRetries: 0,
    maxBufferLines: settings.pageRows + 1,
  });

  let watermarkMs: number | null = null;
  const metrics = createTimeseriesMetrics(options.registry, () => (watermarkMs === null ? null : Math.max(0, clock.now() - watermarkMs) / 1000));
  let queue: Promise<unknown> = Promise.resolve();
  let job: { stop(): Promise<void> } | null = null;
  let initialised = false;
  let stopping = false;
  let failing = false;

  async function send(points: readonly UsagePoint[]): Promise<void> {
    writeApi.writeRecords(points.map(formatUsageLine));
    try {
      await writeApi.flush();
    } catch (error) {
      metrics.writeFailures.inc();
      throw new Error(`InfluxDB write failed: ${describe(error)}`, { cause: error });
    }
    metrics.pointsWritten.inc(points.length);
  }

  async function writeWindow(client: PoolClient, window: ExportWindow): Promise<number> {
    await openPointCursor(client, window);
    let written = 0;
    let sending: Promise<void> | null = null;
    for (;;) {
      // The next page is read from PostgreSQL while the previous one is on its way to InfluxDB.
      const page = await fetchPoints(client, settings.pageRows);
      if (sending) await sending;
      if (page.length === 0) return written;
      written += page.length;
      sending = send(page);
      // Awaited on the next turn; this only keeps a failure meanwhile from being an unhandled rejection.
      sending.catch(() => undefined);
    }
  }

  /** One window in one transaction; `window` is null when nothing closed is left after the (locked) watermark. */
  async function exportNextWindow(untilMs: number): Promise<{ watermarkMs: number; window: ExportWindow | null; points: number }> {
    return withTransaction(pool, async (client) => {
      const current = await lockWatermark(client);
      watermarkMs = current;
      const window = nextWindow(current, untilMs, settings.maxWindowMs);
      if (!window) return { watermarkMs: current, window: null, points: 0 };
      const points = await writeWindow(client, window);
      await saveWatermark(client, window.toMs);
      return { watermarkMs: window.toMs, window, points };
    });
  }

  async function exportPending(): Promise<ExportRun> {
    if (stopping) throw new Error('the time-series exporter is stopped');
    const untilMs = exportableUntil(clock.now(), settings.safetyLagMs);
    const run: ExportRun = { watermarkMs: untilMs, windows: 0, points: 0 };
    try {
      if (!initialised) {
        await ensureWatermark(pool, untilMs);
        initialised = true;
      }
      for (;;) {
        const step = await exportNextWindow(untilMs);
        run.watermarkMs = watermarkMs = step.watermarkMs;
        if (!step.window) break;
        run.windows++;
        run.points += step.points;
        log.debug({ from: iso(step.window.fromMs), to: iso(step.window.toMs), points: step.points }, 'time-series window exported');
        if (stopping) break;
      }
    } catch (error) {
      const context = { err: describe(error), watermark: watermarkMs === null ? null : iso(watermarkMs), windows: run.windows, points: run.points };
      if (failing) log.debug(context, 'time-series export still failing');
      else log.warn(context, 'time-series export failed; the watermark stays and the missed minutes are rebuilt from the ledger on a later run');
      failing = true;
      throw error;
    }
    if (failing) log.info({ watermark: iso(run.watermarkMs), windows: run.windows, points: run.points }, 'time-series export recovered; missed minutes backfilled');
    failing = false;
    return run;
  }

  function runOnce(): Promise<ExportRun> {
    // One run at a time in this process (other instances wait on the watermark row instead).
    const run = queue.then(exportPending);
    queue = run.catch(() => undefined);
    return run;
  }

  return {
    start() {
      if (job || stopping) return;
      log.info({ url: new URL(options.url).origin, org: options.org, bucket: options.bucket, ...settings }, 'time-series export to InfluxDB enabled');
      // runOnce already logged and counted a failure; the next tick is the retry.
      job = startPeriodicJob('timeseries-export', () => runOnce().catch(() => undefined), settings.intervalMs, log);
    },
    async stop() {
      stopping = true;
      await job?.stop();
      job = null;
      await queue;
      // After close() the client would report writes as done without sending them: nothing runs now.
      await writeApi.close().catch((error: unknown) => log.debug({ err: describe(error) }, 'closing the InfluxDB write API failed'));
    },
    runOnce,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown; statusCode?: unknown }).statusCode ?? (error as { code?: unknown }).code;
    return code === undefined ? error.message : `${String(code)}: ${error.message}`;
  }
  return String(error);
}
