import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { luhnCheckDigit } from '../src/shared/identifiers.js';
import { startEmbeddedPostgres } from '../src/shared/db/embedded.js';
import { migrate } from '../src/shared/db/migrate.js';
import { PROJECT_ROOT } from '../src/shared/paths.js';
import { rssWatcher } from './proc-stats.js';

/**
 * Issue 13: the carrier usage import of a large file in bounded memory. Writes a file of N lines (quick:
 * 100,000; full: 1,000,000: 33,334 cards × 30 days), imports it with `npm run import-carrier-usage`'s code
 * (dist/src/tools/import-carrier-usage.js, its own process) into a fresh embedded PostgreSQL (or a scratch
 * database on DATABASE_URL's server), and prints the importer's peak RSS beside the file size; then the same
 * file again (a re-delivery: nothing applied). Wall time is printed, never judged.
 *
 *   npm run bench:carrier-import -- [--quick] [--lines N]
 */

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, lines: { type: 'string' } } });
const lines = Number(values.lines ?? (values.quick ? 100_000 : 1_000_000));
const logger = pino({ level: 'warn' });

function iccid(n: number): string {
  const body = `89860099${String(n).padStart(11, '0')}`;
  return body + luhnCheckDigit(body);
}

async function writeFile(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('iccid,date,bytes,uplink_bytes,downlink_bytes,apn,rating_group\n');
  const cards = Math.ceil(lines / 30);
  for (let i = 0; i < lines; i++) {
    const card = i % cards;
    const day = 1 + Math.floor(i / cards);
    const up = 1_000 + ((i * 7919) % 5_000_000);
    const down = 20 * up;
    if (!out.write(`${iccid(card)},2026-11-${String(day).padStart(2, '0')},${up + down},${up},${down},cmiot.tbox,10\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function importOnce(file: string, databaseUrl: string): Promise<{ peakRssMiB: number; seconds: number; reply: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/src/tools/import-carrier-usage.js'), file, '--file-id', 'bench-1'], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const watcher = rssWatcher(child.pid!, 100);
  let reply = '';
  child.stdout.on('data', (chunk: Buffer) => (reply += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const peakRssMiB = watcher.stop();
  if (code !== 0) throw new Error(`import exited ${code}: ${reply.slice(0, 500)}`);
  return { peakRssMiB, seconds: (performance.now() - started) / 1000, reply: reply.trim() };
}

const dir = await mkdtemp(path.join(tmpdir(), 'carrier-bench-'));
let stopDatabase = async () => undefined as unknown;
try {
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres(path.join(dir, 'data'), logger);
    stopDatabase = () => embedded.stop();
    databaseUrl = embedded.url;
  }
  await migrate(databaseUrl, logger);
  const file = path.join(dir, 'carrier.csv');
  await writeFile(file);
  const size = (await stat(file)).size;
  const first = await importOnce(file, databaseUrl);
  const again = await importOnce(file, databaseUrl);
  const result = {
    lines,
    fileMiB: Number((size / 1_048_576).toFixed(1)),
    import: { peakRssMiB: Number(first.peakRssMiB.toFixed(1)), seconds: Number(first.seconds.toFixed(1)), linesPerSecond: Math.round(lines / first.seconds), reply: JSON.parse(first.reply) as { applied: number } },
    redelivery: { peakRssMiB: Number(again.peakRssMiB.toFixed(1)), seconds: Number(again.seconds.toFixed(1)), reply: JSON.parse(again.reply) as { duplicate: boolean } },
  };
  if (result.import.reply.applied !== lines || !result.redelivery.reply.duplicate) throw new Error(`unexpected replies: ${first.reply} / ${again.reply}`);
  process.stdout.write(
    `carrier import: ${lines.toLocaleString('en')} lines, ${result.fileMiB} MiB file → importer peak RSS ${result.import.peakRssMiB} MiB (${result.import.seconds} s, ${result.import.linesPerSecond.toLocaleString('en')} lines/s); ` +
      `re-delivery: peak RSS ${result.redelivery.peakRssMiB} MiB, ${result.redelivery.seconds} s, nothing applied\n`,
  );
  process.stdout.write(`${JSON.stringify({ carrierImport: { lines: result.lines, fileMiB: result.fileMiB, import: { ...result.import, reply: undefined }, redelivery: { ...result.redelivery, reply: undefined } } })}\n`);
} finally {
  await stopDatabase();
  await rm(dir, { recursive: true, force: true });
}
