import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PROJECT_ROOT } from '../src/shared/paths.js';
import { adminClient, fleetIccid, fleetVin, formatTimestamp, mapLimit, type LatencySummary } from '../simulators/fleet/index.js';
import { profileOf, summariseCpuProfile, type ProfileSummary } from './cpu-profile.js';
import { floorFigures, floorLogLines, floorSettings, measureExactlyOnceFloor } from './floor.js';
import { cpuBetween, memoryMiB, processTree, rssWatcher, sampleCpu, type CpuSample } from './proc-stats.js';
import { measurePostgresBulk, type BulkLoadResult } from './raw-postgres.js';
import { formatReport } from './report.js';
import { outageVehicles, runOutagePhase } from './outage.js';
import { scrapeMetrics, startBenchService, type BenchService } from './service-process.js';

/**
 * `npm run bench [-- --quick]`: the service as its own process, the load generator in another, the raw
 * limits (broker alone, PostgreSQL alone) measured in the same run on the same machine, then a table and
 * bench/results.json. The method is described in bench/README.md.
 */
interface Settings {
  mode: 'quick' | 'full';
  loadVehicles: number;
  /** unacked messages per vehicle at max load: enough to keep the batch lanes busy, not more (see README) */
  window: number;
  /** also run max load at this window (the protocol's 16): throughput under a deep queue; null = skip */
  overloadWindow: number | null;
  warmupMs: number;
  durationMs: number;
  offeredRecordsPerSecond: number;
  broker: { warmupMs: number; durationMs: number; window: number };
  postgres: { sampleRecords: number; minRecords: number; chunkRecords: number };
  scaling: number[];
  scalingSpreadMs: number;
  connectConcurrency: number;
}

const QUICK: Settings = {
  mode: 'quick',
  loadVehicles: 100,
  window: 4,
  overloadWindow: null,
  warmupMs: 2_000,
  durationMs: 8_000,
  offeredRecordsPerSecond: 10_000,
  broker: { warmupMs: 1_000, durationMs: 4_000, window: 100 },
  postgres: { sampleRecords: 20_000, minRecords: 40_000, chunkRecords: 2_000 },
  scaling: [200, 500, 1_000],
  // Compressed: a minute's reports within 5 s.
  scalingSpreadMs: 5_000,
  connectConcurrency: 100,
};

const FULL: Settings = {
  mode: 'full',
  loadVehicles: 200,
  window: 4,
  overloadWindow: 16,
  warmupMs: 5_000,
  durationMs: 30_000,
  offeredRecordsPerSecond: 20_000,
  broker: { warmupMs: 2_000, durationMs: 10_000, window: 100 },
  postgres: { sampleRecords: 100_000, minRecords: 200_000, chunkRecords: 2_000 },
  scaling: [1_000, 5_000, 10_000],
  // Once a minute, for real: 10,000 vehicles × 50 records a minute is 8,333 records/s.
  scalingSpreadMs: 60_000,
  connectConcurrency: 200,
};

const PHASES = ['broker', 'max', 'fixed', 'postgres', 'scaling', 'outage'] as const;
type PhaseName = (typeof PHASES)[number];

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      phases: { type: 'string' },
      offered: { type: 'string' },
      scaling: { type: 'string' },
      'load-vehicles': { type: 'string' },
      window: { type: 'string' },
      duration: { type: 'string' },
      env: { type: 'string', multiple: true, default: [] },
      // The load's vehicles obey their controls (DESIGN 3.3) like the fleet simulator; this sends blocked apps' flows too.
      'ignore-controls': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'bench', 'results.json') },
    },
    strict: true,
  });
  const settings: Settings = { ...(values.quick ? QUICK : FULL) };
  if (values.offered) settings.offeredRecordsPerSecond = positive('offered', values.offered);
  if (values['load-vehicles']) settings.loadVehicles = positive('load-vehicles', values['load-vehicles']);
  if (values.window) settings.window = Math.min(16, positive('window', values.window));
  if (values.duration) settings.durationMs = positive('duration', values.duration) * 1000;
  if (values.scaling) settings.scaling = values.scaling.split(',').map((x) => positive('scaling', x));
  const phases = new Set<PhaseName>(values.phases ? (values.phases.split(',') as PhaseName[]) : PHASES);
  for (const p of phases) if (!PHASES.includes(p)) throw new Error(`unknown phase ${p}; phases: ${PHASES.join(', ')}`);
  const serviceEnv = Object.fromEntries(
    values.env.map((kv) => {
      const at = kv.indexOf('=');
      if (at < 1) throw new Error(`--env takes KEY=VALUE, got ${JSON.stringify(kv)}`);
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  );
  if (!existsSync(path.join(PROJECT_ROOT, 'dist/src/server.js'))) throw new Error('dist/src/server.js is missing: run `npm run build` (npm run bench does)');

  const workDir = await mkdtemp(path.join(os.tmpdir(), 'tbox-bench-run-'));
  const profileDir = values.profile ? path.join(workDir, 'profile') : undefined;
  if (profileDir) await mkdir(profileDir);
  const results: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    mode: settings.mode,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    settings: { ...settings, serviceEnv, recordsPerMessage: 50, obeyControls: !values['ignore-controls'], database: process.env.DATABASE_URL ? 'DATABASE_URL (scratch database)' : 'embedded PostgreSQL (dev mode, fresh DATA_DIR)' },
  };

  // Each connected vehicle is one socket in the load generator and one in the service. Node raises its soft
  // RLIMIT_NOFILE to the hard limit at startup, so the hard limit is what counts.
  const hardFiles = hardOpenFilesLimit();
  const biggest = phases.has('scaling') ? Math.max(...settings.scaling) : settings.loadVehicles;
  if (hardFiles !== null && hardFiles < biggest + 1_024) {
    log(`warning: the hard open-files limit is ${hardFiles}; ${biggest} vehicles need about ${biggest + 1_024} per process (raise it: ulimit -Hn, or limits.conf / LimitNOFILE)`);
  }
  // Other work on the machine takes CPU from the service, PostgreSQL and the load alike: say so.
  if (os.loadavg()[0]! > os.cpus().length * 0.5) log(`warning: load average ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} CPUs before the run: figures will be low and noisy`);
  const children: ChildProcess[] = [];
  let service: BenchService | null = null;
  const cleanup = async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await service?.stop();
    await rm(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

  try {
    // ---- the broker alone --------------------------------------------------------------------
    const generator = startChild(path.join(PROJECT_ROOT, 'bench/load-generator.ts'), ['--max-old-space-size=4096']);
    children.push(generator.child);
    if (phases.has('broker')) {
      log('broker alone: aedes pub/sub of the same 50-record messages, QoS 1, two clients');
      const broker = startChild(path.join(PROJECT_ROOT, 'bench/raw-broker.ts'));
      children.push(broker.child);
      const { port } = await broker.ready<{ port: number }>();
      await generator.call({ cmd: 'init', mqttUrl: '', seed: 'bench' });
      const before = sampleCpu([broker.child.pid!]);
      const raw = await generator.call<{ recordsPerSecond: number; messagesPerSecond: number; payloadBytes: number; generatorCpuSeconds: number }>({ cmd: 'brokerRaw', url: `mqtt://127.0.0.1:${port}`, ...settings.broker });
      const brokerCpu = cpuBetween(before, sampleCpu([broker.child.pid!]));
      broker.child.kill('SIGTERM');
      results.raw = { ...(results.raw as object), brokerRecordsPerSecond: Math.round(raw.recordsPerSecond), brokerMessagesPerSecond: Math.round(raw.messagesPerSecond), brokerPayloadBytes: raw.payloadBytes, brokerCpuPercent: Math.round(brokerCpu.percent) };
      log(`  ${Math.round(raw.recordsPerSecond).toLocaleString('en-US')} records/s (${Math.round(raw.messagesPerSecond).toLocaleString('en-US')} messages/s of ${raw.payloadBytes} bytes)`);
    }

    // ---- the service ---------------------------------------------------------------------------
    log(`starting the service (${process.env.DATABASE_URL ? 'scratch database on DATABASE_URL' : 'embedded PostgreSQL in a fresh DATA_DIR'})`);
    service = await startBenchService({ env: serviceEnv, ...(profileDir ? { cpuProfileDir: profileDir } : {}), ...(process.env.DATABASE_URL ? { externalDatabaseUrl: process.env.DATABASE_URL } : {}) });
    const svc = service;
    const profiledPid = svc.pid;
    const tree = () => (svc.embeddedPostgres ? processTree(svc.pid) : [svc.pid]);
    await generator.call({ cmd: 'init', mqttUrl: svc.mqttUrl, seed: 'bench', obeyControls: !values['ignore-controls'] });

    const fleetSize = Math.max(settings.loadVehicles, phases.has('scaling') ? Math.max(...settings.scaling) : 0, phases.has('outage') ? outageVehicles(settings.mode) : 0);
    log(`registering ${fleetSize.toLocaleString('en-US')} vehicles through the admin API`);
    const admin = adminClient(svc.httpUrl, svc.adminToken);
    const activatedAt = formatTimestamp(Date.now() - 30 * 86_400_000);
    const models = ['A7', 'A9', 'S1'];
    const registerStarted = performance.now();
    const fleet = await mapLimit(Array.from({ length: fleetSize }, (_, i) => i), 32, async (i) => {
      const vin = fleetVin('B', i);
      const { secret } = await admin.enrol({ vin, iccid: fleetIccid('B', i), automaker: 'oem-acme', model: models[i % models.length]!, activatedAt });
      return { vin, secret };
    });
    log(`  ${Math.round(fleetSize / ((performance.now() - registerStarted) / 1000)).toLocaleString('en-US')} registrations/s`);

    let connected = 0;
    const connectUpTo = async (n: number) => {
      if (n <= connected) return 0;
      const r = await generator.call<{ connected: number; failed: number; seconds: number }>({ cmd: 'connect', vehicles: fleet.slice(connected, n), concurrency: settings.connectConcurrency });
      if (r.failed > 0) log(`  ${r.failed} vehicles could not connect`);
      connected = r.connected;
      return r.seconds;
    };

    const measure = async <T>(run: () => Promise<T>, window?: { fromMs: number; untilMs: number }) => {
      let a: CpuSample = sampleCpu(tree());
      let b: CpuSample | null = null;
      const timers: NodeJS.Timeout[] = [];
      if (window) {
        timers.push(setTimeout(() => (a = sampleCpu(tree())), window.fromMs));
        timers.push(setTimeout(() => (b = sampleCpu(tree())), window.untilMs));
      }
      const rss = rssWatcher(svc.pid);
      const result = await run();
      const end = b ?? sampleCpu(tree());
      for (const t of timers) clearTimeout(t);
      const peak = rss.stop();
      return {
        result,
        service: cpuBetween(a, end, [svc.pid]),
        postgres: svc.embeddedPostgres ? cpuBetween(a, end, [...end.cpu.keys()].filter((pid) => pid !== svc.pid)) : null,
        rssPeakMiB: peak,
      };
    };

    const endToEnd: Record<string, unknown> = {};
    if (phases.has('max') || phases.has('fixed')) {
      const seconds = await connectUpTo(settings.loadVehicles);
      log(`connected ${settings.loadVehicles} load vehicles in ${seconds.toFixed(1)} s`);
    }
    let maxWindow: { fromMs: number; untilMs: number } | null = null;
    if (phases.has('max')) {
      const phaseStart = Date.now();
      maxWindow = { fromMs: phaseStart + settings.warmupMs - svc.spawnedAtMs, untilMs: phaseStart + settings.warmupMs + settings.durationMs - svc.spawnedAtMs };
      log(`max load: ${settings.loadVehicles} vehicles × ${settings.window} unacked 50-record messages, ${settings.durationMs / 1000} s after ${settings.warmupMs / 1000} s warm-up`);
      let metricsFrom: IngestMetrics | null = null;
      let metricsUntil: IngestMetrics | null = null;
      const scrapes = [
        setTimeout(() => void scrapeIngestMetrics(svc.httpUrl).then((m) => (metricsFrom = m)), settings.warmupMs),
        setTimeout(() => void scrapeIngestMetrics(svc.httpUrl).then((m) => (metricsUntil = m)), settings.warmupMs + settings.durationMs),
      ];
      const m = await measure(
        () => generator.call<{ recordsPerSecond: number; records: number; latency: LatencySummary; generatorCpuSeconds: number; leftInFlight: number }>({ cmd: 'maxLoad', vehicles: settings.loadVehicles, window: settings.window, warmupMs: settings.warmupMs, durationMs: settings.durationMs }),
        { fromMs: settings.warmupMs, untilMs: settings.warmupMs + settings.durationMs },
      );
      scrapes.forEach(clearTimeout);
      endToEnd.batches = batchFigures(metricsFrom, metricsUntil, settings.durationMs);
      const per100k = (seconds: number) => Math.round((seconds / (m.result.records / 100_000)) * 100) / 100;
      Object.assign(endToEnd, {
        recordsPerSecond: Math.round(m.result.recordsPerSecond),
        maxLoadWindow: settings.window,
        maxLoadVehicles: settings.loadVehicles,
        maxLoadAckLatencyMs: m.result.latency,
        serviceCpuPercent: Math.round(m.service.percent),
        postgresCpuPercent: m.postgres ? Math.round(m.postgres.percent) : null,
        cpuSecondsPer100kRecords: {
          service: per100k(m.service.seconds),
          postgres: m.postgres ? per100k(m.postgres.seconds) : null,
          loadGenerator: per100k(m.result.generatorCpuSeconds * (settings.durationMs / (settings.durationMs + settings.warmupMs))),
        },
        serviceRssMiB: Math.round(m.rssPeakMiB),
      });
      log(`  ${Math.round(m.result.recordsPerSecond).toLocaleString('en-US')} records/s acked; service CPU ${Math.round(m.service.percent)} %, PostgreSQL ${m.postgres ? Math.round(m.postgres.percent) : '?'} %, RSS ${Math.round(m.rssPeakMiB)} MiB`);
    }
    if (phases.has('max') && settings.overloadWindow !== null) {
      log(`overload: ${settings.loadVehicles} vehicles × ${settings.overloadWindow} unacked messages (the protocol's limit), ${settings.durationMs / 1000} s`);
      const o = await measure(
        () => generator.call<{ recordsPerSecond: number; latency: LatencySummary }>({ cmd: 'maxLoad', vehicles: settings.loadVehicles, window: settings.overloadWindow, warmupMs: settings.warmupMs, durationMs: settings.durationMs }),
        { fromMs: settings.warmupMs, untilMs: settings.warmupMs + settings.durationMs },
      );
      endToEnd.overload = { window: settings.overloadWindow, recordsPerSecond: Math.round(o.result.recordsPerSecond), ackP50Ms: o.result.latency.p50, ackP99Ms: o.result.latency.p99, serviceCpuPercent: Math.round(o.service.percent), serviceRssMiB: Math.round(o.rssPeakMiB) };
      log(`  ${Math.round(o.result.recordsPerSecond).toLocaleString('en-US')} records/s acked; p50 ${o.result.latency.p50} ms; RSS ${Math.round(o.rssPeakMiB)} MiB`);
    }
    if (phases.has('fixed')) {
      log(`fixed load: ${settings.offeredRecordsPerSecond.toLocaleString('en-US')} records/s offered for ${settings.durationMs / 1000} s`);
      const f = await measure(
        () => generator.call<{ offeredRecordsPerSecond: number; sentRecordsPerSecond: number; ackedRecordsPerSecond: number; blockedMessages: number; latency: LatencySummary }>({ cmd: 'fixedRate', vehicles: settings.loadVehicles, recordsPerSecond: settings.offeredRecordsPerSecond, warmupMs: settings.warmupMs, durationMs: settings.durationMs, window: settings.window }),
        { fromMs: settings.warmupMs, untilMs: settings.warmupMs + settings.durationMs },
      );
      Object.assign(endToEnd, {
        offeredRecordsPerSecond: settings.offeredRecordsPerSecond,
        sentRecordsPerSecond: Math.round(f.result.sentRecordsPerSecond),
        ackedRecordsPerSecond: Math.round(f.result.ackedRecordsPerSecond),
        blockedMessages: f.result.blockedMessages,
        ackP50Ms: f.result.latency.p50,
        ackP90Ms: f.result.latency.p90,
        ackP99Ms: f.result.latency.p99,
        ackMaxMs: f.result.latency.max,
        fixedLoadServiceCpuPercent: Math.round(f.service.percent),
        fixedLoadPostgresCpuPercent: f.postgres ? Math.round(f.postgres.percent) : null,
      });
      log(`  acked ${Math.round(f.result.ackedRecordsPerSecond).toLocaleString('en-US')} records/s; ack p50 ${f.result.latency.p50} ms, p99 ${f.result.latency.p99} ms, max ${f.result.latency.max} ms`);
    }
    results.endToEnd = endToEnd;

    // ---- PostgreSQL alone, on the rows the service just wrote -----------------------------------
    if (phases.has('postgres')) {
      if ((await countLedger(svc.databaseUrl)) === 0) log('PostgreSQL alone: skipped (the ledger is empty; run the max or fixed phase too)');
      else {
        log(`PostgreSQL alone: the same ledger rows into scratch copies of usage_records + allocations, ${settings.postgres.chunkRecords} records per transaction`);
        // CPU is sampled before the connection closes: its backend process exits with it.
        const before = sampleCpu(tree());
        let after: CpuSample | null = null;
        const loaded = await measurePostgresBulk({ url: svc.databaseUrl, ...settings.postgres, methods: ['copy', 'insert-unnest'], beforeClose: () => (after = sampleCpu(tree())) });
        const end: CpuSample = after ?? sampleCpu(tree());
        const postgresCpu = svc.embeddedPostgres ? cpuBetween(before, end, [...end.cpu.keys()].filter((pid) => pid !== svc.pid)) : null;
        const [copy, insert] = loaded as [BulkLoadResult, BulkLoadResult];
        const figures = (b: BulkLoadResult) => ({ label: b.label, recordsPerSecond: Math.round(b.recordsPerSecond), rowsPerSecond: Math.round(b.rowsPerSecond), records: b.records, allocationRows: b.allocationRows, seconds: Math.round(b.seconds * 100) / 100, chunkRecords: b.chunkRecords });
        results.raw = {
          ...(results.raw as object),
          pgCopyRowsPerSecond: Math.round(copy.recordsPerSecond),
          pgCopyTableRowsPerSecond: Math.round(copy.rowsPerSecond),
          pgCopy: figures(copy),
          pgInsertUnnest: figures(insert),
          /** PostgreSQL's CPU over the phase (reading the sample back and building the scratch tables included) */
          pgCpuPercent: postgresCpu ? Math.round(postgresCpu.percent) : null,
        };
        for (const b of [copy, insert]) log(`  ${Math.round(b.recordsPerSecond).toLocaleString('en-US')} records/s (${Math.round(b.rowsPerSecond).toLocaleString('en-US')} table rows/s) — ${b.label}`);
      }
    }

    // ---- the exactly-once floor: (vin, epoch, seq, bytes) alone, on the same server (bench/floor.ts) ----
    if (phases.has('postgres')) {
      const floorRun = floorSettings(settings.mode);
      log(`exactly-once floor: PostgreSQL alone, (vin, epoch, seq, bytes) into a table with only that key, ${floorRun.chunkRecords} rows per transaction, ${floorRun.durationMs / 1000} s each`);
      const floor = await measureExactlyOnceFloor({ url: svc.databaseUrl, vehicles: settings.loadVehicles, ...floorRun });
      results.raw = { ...(results.raw as object), ...floorFigures(floor) };
      for (const line of floorLogLines(floor)) log(line);
    }

    // ---- scaling: connected vehicles reporting once per step -------------------------------------
    if (phases.has('scaling')) {
      if (connected > 0) {
        // A fresh process, so its memory is that of the connected fleet, not what the load phases left.
        log('restarting the service for the scaling run');
        await generator.call({ cmd: 'disconnectAll' });
        connected = 0;
        await svc.restart();
      }
      const steps: Array<Record<string, unknown>> = [];
      for (const n of settings.scaling) {
        log(`scaling: ${n.toLocaleString('en-US')} connected vehicles, each reports one 50-record message within ${settings.scalingSpreadMs / 1000} s`);
        const connectSeconds = await connectUpTo(n);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const idle = memoryMiB(svc.pid);
        const s = await measure(() => generator.call<{ seconds: number; acked: number; latency: LatencySummary; leftInFlight: number; generatorRssMiB: number }>({ cmd: 'onceEach', vehicles: n, spreadMs: settings.scalingSpreadMs, timeoutMs: 120_000 }));
        const step = {
          vehicles: n,
          connected: Math.min(connected, n),
          connectSeconds: Math.round(connectSeconds * 10) / 10,
          rssIdleMiB: idle ? Math.round(idle.rss) : null,
          rssMiB: Math.round(s.rssPeakMiB),
          cpuPercent: Math.round(s.service.percent),
          postgresCpuPercent: s.postgres ? Math.round(s.postgres.percent) : null,
          stepSeconds: Math.round(s.result.seconds * 10) / 10,
          messagesAcked: s.result.acked,
          ackP50Ms: s.result.latency.p50,
          ackP99Ms: s.result.latency.p99,
          generatorRssMiB: s.result.generatorRssMiB,
        };
        steps.push(step);
        log(`  RSS ${step.rssIdleMiB} MiB idle, ${step.rssMiB} MiB peak; CPU ${step.cpuPercent} % (PostgreSQL ${step.postgresCpuPercent ?? '?'} %); ${step.messagesAcked}/${n} acked, p99 ${step.ackP99Ms} ms`);
      }
      results.scaling = steps;
    }

    // ---- outage: the database stalled under far more usage than the ingest bound (bench/outage.ts) ----
    if (phases.has('outage')) {
      results.outage = await runOutagePhase({ mode: settings.mode, svc, generator, fleet, serviceEnv, connectConcurrency: settings.connectConcurrency, log });
      connected = 0;
    }

    // ---- exactly once, as a sanity check of the run itself --------------------------------------
    const totals = await generator.call<{ accepted: number; duplicates: number; rejected: number; messageErrors: number; recordsHeldBack: number; bytesHeldBack: number }>({ cmd: 'totals' });
    const ledgerRecords = await countLedger(svc.databaseUrl);
    results.exactlyOnce = { acceptedByAcks: totals.accepted, duplicates: totals.duplicates, rejected: totals.rejected, messageErrors: totals.messageErrors, ledgerRecords, equal: ledgerRecords === totals.accepted };
    // Flows of apps blocked for the load's vehicles (no pack: hotspot and unrecognised traffic), skipped and never sent.
    results.heldBack = { obeyControls: !values['ignore-controls'], records: totals.recordsHeldBack, bytes: totals.bytesHeldBack };

    await generator.call({ cmd: 'close' }).catch(() => undefined);
    log('stopping the service');
    await svc.stop();
    service = null;
    if (profileDir) {
      const file = await profileOf(profileDir, profiledPid);
      if (file) {
        // The max-load window when there was one: the profile of the service at saturation.
        const summary: ProfileSummary = await summariseCpuProfile(file, maxWindow ? { window: maxWindow } : {});
        // Kept for Chrome DevTools / speedscope, under .data (not versioned).
        const kept = path.join(PROJECT_ROOT, '.data', 'bench', 'service.cpuprofile');
        await mkdir(path.dirname(kept), { recursive: true });
        await copyFile(file, kept);
        results.profile = { ...summary, file: path.relative(PROJECT_ROOT, kept), window: maxWindow ? 'max-load phase' : 'whole run', windowMs: maxWindow };
      }
    }
    (results.machine as Record<string, unknown>).loadAverageAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
    computeRatios(results);
    await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`${formatReport(results)}\n\nwritten to ${path.relative(process.cwd(), values.out)}\n`);
  } finally {
    await cleanup();
  }
}

interface IngestMetrics {
  commitSeconds: number;
  commits: number;
  batchRecords: number;
}

/** The service's own ingest metrics (GET /metrics): batch transaction time and records per batch. */
async function scrapeIngestMetrics(httpUrl: string): Promise<IngestMetrics | null> {
  const value = await scrapeMetrics(httpUrl);
  if (!value) return null;
  return { commitSeconds: value('ingest_commit_seconds_sum'), commits: value('ingest_commit_seconds_count'), batchRecords: value('ingest_batch_records_sum') };
}

/** Batches per second, records per batch, and how much of the wall time the lanes spent in batch transactions. */
function batchFigures(from: IngestMetrics | null, until: IngestMetrics | null, durationMs: number) {
  if (!from || !until || !(until.commits > from.commits)) return null;
  const commits = until.commits - from.commits;
  const seconds = until.commitSeconds - from.commitSeconds;
  return {
    perSecond: Math.round((commits / (durationMs / 1000)) * 10) / 10,
    recordsPerBatch: Math.round((until.batchRecords - from.batchRecords) / commits),
    commitMs: Math.round((seconds / commits) * 10_000) / 10,
    /** share of the wall time inside a batch transaction (summed over the lanes: 100 % = one lane never idle, INGEST_LANES × 100 % = all of them) */
    writerBusyPercent: Math.round((seconds / (durationMs / 1000)) * 100),
  };
}

function computeRatios(results: Record<string, any>): void {
  const e2e = results.endToEnd?.recordsPerSecond as number | undefined;
  const raw = results.raw ?? {};
  const ratio = (a: number | undefined, b: number | null | undefined) => (a && b ? Math.round((a / b) * 1000) / 1000 : null);
  results.ratios = {
    endToEndVsPgCopy: ratio(e2e, raw.pgCopyRowsPerSecond),
    endToEndVsPgInsertUnnest: ratio(e2e, raw.pgInsertUnnest?.recordsPerSecond),
    endToEndVsBroker: ratio(e2e, raw.brokerRecordsPerSecond),
    endToEndVsFloor: ratio(e2e, raw.pgFloorRecordsPerSecond),
  };
}

async function countLedger(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM usage_records');
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** The hard limit on open files of this process (inherited by its children), from /proc/self/limits. */
function hardOpenFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    return hard === undefined || hard === 'unlimited' ? null : Number(hard);
  } catch {
    return null;
  }
}

function positive(name: string, text: string): number {
  const x = Number(text);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(text)}`);
  return x;
}

/** A TypeScript child process (via tsx) with request/response over IPC. */
function startChild(file: string, nodeArgs: string[] = []) {
  const child = fork(file, [], { cwd: PROJECT_ROOT, execArgv: [...nodeArgs, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let readyResolve: (value: unknown) => void = () => undefined;
  const readyPromise = new Promise((resolve) => (readyResolve = resolve));
  child.on('message', (message: { id?: number; ok?: boolean; result?: unknown; error?: string; ready?: boolean }) => {
    if (message.ready) return readyResolve(message);
    const entry = message.id !== undefined ? waiting.get(message.id) : undefined;
    if (!entry) return;
    waiting.delete(message.id!);
    if (message.ok) entry.resolve(message.result);
    else entry.reject(new Error(`${path.basename(file)}: ${message.error}`));
  });
  child.on('exit', (code) => {
    for (const entry of waiting.values()) entry.reject(new Error(`${path.basename(file)} exited with ${code}`));
    waiting.clear();
  });
  return {
    child,
    ready: <T>() => readyPromise as Promise<T>,
    call<T = unknown>(command: Record<string, unknown>): Promise<T> {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, command });
      });
    },
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
