import { ConfigError, loadConfig } from './shared/config.js';
import { systemClock } from './shared/clock.js';
import { AppError } from './shared/errors.js';
import { chooseLogFormat, createLogger } from './shared/logger.js';
import { startService } from './service.js';

/** The process entry point: parse config, start, print where things are, stop cleanly on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const started = performance.now();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL, undefined, { format: chooseLogFormat({ devMode: config.devMode, isTTY: process.stdout.isTTY === true }) });
  const service = await startService(config, { logger, clock: systemClock });
  const readyMs = Math.round(performance.now() - started);
  logger.info({ http: service.httpUrl, mqttPort: service.broker?.port ?? null, mqttTlsPort: service.broker?.tlsPort ?? null, readyMs }, 'service ready');
  if (config.devMode) {
    // A human banner on stderr, not a log line: the token must not end up in log storage.
    process.stderr.write(
      [
        '',
        `  tbox-billing is ready in ${readyMs} ms (dev mode)`,
        `  API        ${service.httpUrl}   (OpenAPI: ${service.httpUrl}/docs)`,
        `  MQTT       mqtt://127.0.0.1:${service.broker?.port ?? config.MQTT_PORT}`,
        // Printed once, when generated; afterwards only where it is kept.
        service.adminTokenGenerated ? `  admin token ${service.adminToken}   (shown once; kept in ${config.DATA_DIR}/admin-token)` : `  admin token in ${config.DATA_DIR}/admin-token`,
        '',
      ].join('\n') + '\n',
    );
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    service.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  // An AppError is a refusal explained in its message (e.g. a data directory of another PostgreSQL major): no stack.
  const detail = error instanceof AppError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`startup failed: ${detail}\n`);
  process.exit(1);
});
