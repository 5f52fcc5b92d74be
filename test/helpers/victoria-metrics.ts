import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/shared/db/embedded.js';

interface TestContext {
  teardown(fn: () => unknown): void;
}

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface VictoriaMetrics {
  /** base URL, also the INFLUX_URL: it serves the InfluxDB v2 write API at /api/v2/write */
  url: string;
  port: number;
  dataPath: string;
  /** SIGTERM and wait: a graceful stop, so what it accepted is on disk. */
  stop(): Promise<void>;
  /** Starts again on the same port and data path. */
  start(): Promise<void>;
  /** Makes every accepted sample searchable now. */
  flush(): Promise<void>;
  /** Raw samples per series (/api/v1/export), after a flush. */
  exportSeries(selector: string): Promise<ExportedSeries[]>;
  /** An instant query (/api/v1/query) at `timeMs`, after a flush. */
  query(expr: string, timeMs: number): Promise<InstantSample[]>;
}

const BINARY = process.env.VICTORIA_METRICS_BIN ?? 'victoria-metrics';

/**
 * A real VictoriaMetrics (Debian's `victoria-metrics` package; CI installs it with apt-get) on a free
 * loopback port and a temporary data path, stopped and removed at teardown.
 *
 * Unlike InfluxDB, where a point written again with the same series and timestamp overwrites the first,
 * VictoriaMetrics keeps every sample it is sent (its `-dedup.minScrapeInterval` keeps one of equal
 * timestamps, but in 1.79 not reliably the last written), so it runs without dedup: /api/v1/export shows
 * every write, and tests read a rewritten minute's value as its newest write, never as a sum of samples.
 * Flags: `-search.latencyOffset=0` and `-search.disableCache` make fresh and backfilled points queryable at
 * once with no cached response hiding a backfill; `-retentionPeriod=100y` accepts any test timeline.
 */
export async function startVictoriaMetrics(t: TestContext): Promise<VictoriaMetrics> {
  const dataPath = await mkdtemp(path.join(tmpdir(), 'tbox-vm-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';

  async function start(): Promise<void> {
    if (child) throw new Error('victoria-metrics is already running');
    output = '';
    const args = [
      `-storageDataPath=${dataPath}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      '-retentionPeriod=100y',
      '-search.latencyOffset=0',
      '-search.disableCache',
      '-loggerLevel=WARN',
    ];
    const started = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    const exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
    started.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const spawnError = new Promise<Error>((resolve) => started.once('error', resolve));
    for (let waited = 0; ; waited += 100) {
      const failed = await Promise.race([spawnError, exited.then(() => new Error(`exited with ${started.exitCode}`)), delay(100).then(() => null)]);
      if (failed) {
        child = null;
        const hint = (failed as NodeJS.ErrnoException).code === 'ENOENT' ? ' (install Debian\'s victoria-metrics package, or set VICTORIA_METRICS_BIN)' : '';
        throw new Error(`victoria-metrics did not start: ${failed.message}${hint}\n${output}`);
      }
      if (await healthy()) return;
      if (waited > 30_000) throw new Error(`victoria-metrics not healthy on ${url} after 30 s\n${output}`);
    }
  }

  async function healthy(): Promise<boolean> {
    try {
      const response = await fetch(`${url}/health`);
      return response.ok && (await response.text()).trim() === 'OK';
    } catch {
      return false;
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running) return;
    child = null;
    if (running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    if (await Promise.race([exited.then(() => true), delay(30_000).then(() => false)])) return;
    running.kill('SIGKILL');
    await exited;
  }

  async function flush(): Promise<void> {
    const response = await fetch(`${url}/internal/force_flush`);
    if (!response.ok) throw new Error(`force_flush: ${response.status} ${await response.text()}`);
  }

  async function exportSeries(selector: string): Promise<ExportedSeries[]> {
    await flush();
    const response = await fetch(`${url}/api/v1/export`, { method: 'POST', body: new URLSearchParams({ 'match[]': selector }) });
    if (!response.ok) throw new Error(`export: ${response.status} ${await response.text()}`);
    return (await response.text())
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ExportedSeries);
  }

  async function query(expr: string, timeMs: number): Promise<InstantSample[]> {
    await flush();
    const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr, time: String(timeMs / 1000) })}`);
    const body = (await response.json()) as { status: string; data?: { result: InstantSample[] }; error?: string };
    if (!response.ok || body.status !== 'success' || !body.data) throw new Error(`query ${expr}: ${response.status} ${body.error ?? ''}`);
    return body.data.result;
  }

  t.teardown(async () => {
    await stop();
    await rm(dataPath, { recursive: true, force: true });
  });
  await start();
  return { url, port, dataPath, stop, start, flush, exportSeries, query };
}

/** Polls `probe` until it returns a value (not undefined); the bound turns a hang into a message and asserts nothing about speed. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = null;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    await delay(250);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
