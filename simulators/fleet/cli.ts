import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runFleet, type FleetOptions, type FleetProgress } from './fleet.js';
import { formatProgressBar, formatProgressLine, formatSummary, summaryToJson } from './report.js';

const USAGE = `npm run simulate -- --vehicles N --minutes M --seed S [options]

  --vehicles N          vehicles in the fleet (default 10)
  --minutes M           simulated minutes; every vehicle reports once a simulated minute (default 10)
  --seed S              PRNG seed: the same seed gives the same records (default 1)
  --url URL             service HTTP API (default http://127.0.0.1:3000)
  --mqtt URL            MQTT broker (default mqtt://127.0.0.1:1883)
  --token T             admin token (default: ADMIN_TOKEN, else $DATA_DIR/admin-token, DATA_DIR default .data)
  --batch N             records per message, at most (default 50)
  --speed X             simulated time runs X times faster than real time (default 1)
  --state FILE          seqs, epochs and unacked messages across runs (default .data/fleet-state.json; "" = none)
  --fleet C             one VIN character naming the fleet (default A)
  --qos 0|1             usage publish QoS (default 1)
  --offline-per-hour X  coverage losses per vehicle per simulated hour (default 0.2)
  --offline-minutes X   their mean length in simulated minutes (default 3)
  --swaps-per-day X     unit swaps (new epoch) per vehicle per simulated day (default 0.02)
  --ack-timeout S       resend after S seconds without an ack (default 60, DESIGN 3.2)
  --drain-timeout S     wait at most S seconds for the last acks (default 120)
  --connect-rate N      vehicles connecting per second (default 500)
  --ignore-controls     send the flows of blocked apps too (default: refuse them, as a T-Box obeying
                        tbox/{vin}/control/{app} must, and count the bytes held back)
  --json FILE           also write the summary (with per-vehicle byte totals) as JSON

Exit status: 0 when every message was acknowledged, 2 when some were not (they stay in the state file).
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vehicles: { type: 'string', default: '10' },
      minutes: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      url: { type: 'string', default: 'http://127.0.0.1:3000' },
      mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      token: { type: 'string' },
      batch: { type: 'string', default: '50' },
      speed: { type: 'string', default: '1' },
      state: { type: 'string', default: path.join('.data', 'fleet-state.json') },
      fleet: { type: 'string', default: 'A' },
      qos: { type: 'string', default: '1' },
      'offline-per-hour': { type: 'string', default: '0.2' },
      'offline-minutes': { type: 'string', default: '3' },
      'swaps-per-day': { type: 'string', default: '0.02' },
      'ack-timeout': { type: 'string', default: '60' },
      'drain-timeout': { type: 'string', default: '120' },
      'connect-rate': { type: 'string', default: '500' },
      json: { type: 'string' },
      'ignore-controls': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const number = (name: string, text: string, check: (x: number) => boolean, rule: string) => {
    const x = Number(text);
    if (!Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} must be ${rule}, got ${JSON.stringify(text)}`);
    return x;
  };
  const integer = (x: number) => Number.isInteger(x) && x >= 1;
  const qos = number('qos', values.qos, (x) => x === 0 || x === 1, '0 or 1') as 0 | 1;

  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const onProgress = (p: FleetProgress) => {
    if (tty) {
      process.stderr.write(`\r\x1b[2K${formatProgressBar(p)}`);
      if (p.phase === 'done') process.stderr.write('\n');
    } else if (p.phase === 'done' || p.elapsedMs - lastLine >= 10_000) {
      lastLine = p.elapsedMs;
      process.stderr.write(`${formatProgressLine(p)}\n`);
    }
  };
  const abort = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write('\nstopping: unacknowledged messages are kept in the state file\n');
      abort.abort();
    });
  }

  const ackTimeoutMs = number('ack-timeout', values['ack-timeout'], (x) => x > 0, 'a positive number of seconds') * 1000;
  const options = {
    vehicles: number('vehicles', values.vehicles, integer, 'a positive integer'),
    minutes: number('minutes', values.minutes, integer, 'a positive integer'),
    seed: values.seed,
    apiUrl: values.url,
    mqttUrl: values.mqtt,
    recordsPerMessage: number('batch', values.batch, (x) => integer(x) && x <= 1000, 'an integer 1..1000'),
    speed: number('speed', values.speed, (x) => x > 0, 'a positive number'),
    statePath: values.state === '' ? null : values.state,
    fleetId: values.fleet,
    qos,
    window: { ackTimeoutMs, maxBackoffMs: Math.max(600_000, ackTimeoutMs) },
    offline: {
      perHour: number('offline-per-hour', values['offline-per-hour'], (x) => x >= 0, 'a number ≥ 0'),
      meanMinutes: number('offline-minutes', values['offline-minutes'], (x) => x > 0, 'a positive number'),
    },
    unitSwapsPerDay: number('swaps-per-day', values['swaps-per-day'], (x) => x >= 0, 'a number ≥ 0'),
    drainTimeoutMs: number('drain-timeout', values['drain-timeout'], (x) => x >= 0, 'a number of seconds ≥ 0') * 1000,
    connectRatePerSecond: number('connect-rate', values['connect-rate'], (x) => x > 0, 'a positive number'),
    obeyControls: !values['ignore-controls'],
    onProgress,
    progressIntervalMs: tty ? 200 : 1_000,
    signal: abort.signal,
  } satisfies Omit<FleetOptions, 'token'>;
  const token = values.token ?? process.env.ADMIN_TOKEN ?? (await readTokenFile());
  const summary = await runFleet({ ...options, token });
  process.stdout.write(`\nfleet summary\n${formatSummary(summary)}\n`);
  if (values.json) await writeFile(values.json, summaryToJson(summary));
  // Exit non-zero when something was left unacknowledged, so scripts notice.
  if (summary.drained < summary.vehicles) process.exitCode = 2;
}

class UsageError extends Error {}

async function readTokenFile(): Promise<string> {
  const file = path.join(process.env.DATA_DIR ?? '.data', 'admin-token');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    throw new UsageError(`no admin token: pass --token, set ADMIN_TOKEN, or start the service in dev mode (it writes ${file})`);
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    process.exit(64); // EX_USAGE
  }
  process.stderr.write(`simulate failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
