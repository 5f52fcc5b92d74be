import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startService } from './service.js';
import { systemClock } from './shared/clock.js';
import { loadConfig } from './shared/config.js';
import { createLogger } from './shared/logger.js';
import { PROJECT_ROOT } from './shared/paths.js';

/**
 * The service's OpenAPI document exactly as `/docs/json` serves it: the whole service is started in dev
 * mode (embedded PostgreSQL in a throwaway DATA_DIR, HTTP and MQTT on free loopback ports), asked for the
 * document, and stopped. Starting the real composition root, rather than a list of route modules kept here,
 * is what keeps the document from drifting from the routes (`npm run lint:openapi`, `npm run generate:client`).
 */
export async function serviceOpenApiDocument(options: { catalogDir?: string } = {}): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tbox-openapi-'));
  try {
    const config = loadConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      DATA_DIR: dataDir,
      CATALOG_DIR: options.catalogDir ?? path.join(PROJECT_ROOT, 'sponsors'),
      // The embedded PostgreSQL's shutdown is logged as a warning; only failures matter here.
      LOG_LEVEL: 'error',
    });
    // JSON to stderr: stdout may be the document.
    const service = await startService(config, { logger: createLogger(config.LOG_LEVEL, pino.destination(2)), clock: systemClock });
    try {
      return service.app.swagger() as unknown as Record<string, unknown>;
    } finally {
      await service.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const USAGE = `node dist/src/openapi-document.js [--out FILE]

Starts the service in dev mode on free loopback ports (a throwaway embedded PostgreSQL), writes its OpenAPI
document as JSON to FILE (default stdout) and stops it. Exit codes: 0 done, 64 usage, 1 failure.
`;

async function main(): Promise<void> {
  let values: { out?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(64);
  }
  if (values.help) return void process.stdout.write(USAGE);
  const text = `${JSON.stringify(await serviceOpenApiDocument(), null, 2)}\n`;
  if (values.out === undefined) return void process.stdout.write(text);
  await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
  await writeFile(values.out, text);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`openapi-document failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
