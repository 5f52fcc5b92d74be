import type { Logger } from 'pino';
import { buildApp } from './api/app.js';
import type { FastifyZodInstance } from './api/types.js';
import { loadCatalog } from './catalog/index.js';
import { recordCatalogVersion } from './catalog/repository.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './mqtt/embedded-broker.js';
import type { Clock } from './shared/clock.js';
import type { Config } from './shared/config.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './shared/db/embedded.js';
import { migrate } from './shared/db/migrate.js';
import { createPool, type Pool } from './shared/db/pool.js';
import { resolveSecrets } from './shared/dev-secrets.js';
import { createMetricsRegistry } from './shared/metrics.js';
import { createDeviceAuthenticator } from './vehicles/device-auth.js';
import { createVehicleRepository } from './vehicles/repository.js';
import { vehicleRoutes } from './vehicles/routes.js';
import { createVehicleService } from './vehicles/service.js';

export interface Service {
  app: FastifyZodInstance;
  pool: Pool;
  broker: EmbeddedBroker | null;
  httpUrl: string;
  adminToken: string;
  /** True when this start generated the admin token (dev mode, first start). */
  adminTokenGenerated: boolean;
  catalogVersion: string;
  stop(): Promise<void>;
}

/**
 * The composition root: connects everything in order (catalog → database → migrations → broker → HTTP)
 * and returns one stop() that undoes it in reverse. Nothing connects at import time.
 */
export async function startService(config: Config, deps: { logger: Logger; clock: Clock }): Promise<Service> {
  const { logger, clock } = deps;
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    }
    cleanups.length = 0;
  };
  try {
    const secrets = await resolveSecrets(config);
    const loaded = await loadCatalog(config.CATALOG_DIR);
    logger.info({ catalogVersion: loaded.version }, 'catalog loaded');

    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const embedded: EmbeddedDatabase = await startEmbeddedPostgres(config.DATA_DIR, logger);
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    const applied = await migrate(databaseUrl, logger);
    if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');

    const pool = createPool(databaseUrl, 20);
    pool.on('error', (error) => logger.warn({ err: error.message }, 'idle database connection failed'));
    cleanups.push(() => pool.end());
    await recordCatalogVersion(pool, loaded.version, loaded.canonical);

    const vehicles = createVehicleRepository(pool);
    const deviceAuth = createDeviceAuthenticator({ findSecret: (vin) => vehicles.findSecret(vin), clock });
    let broker: EmbeddedBroker | null = null;
    if (!config.MQTT_URL) {
      broker = await startEmbeddedBroker({
        host: config.MQTT_HOST,
        port: config.MQTT_PORT,
        ...(config.MQTT_TLS_CERT && config.MQTT_TLS_KEY ? { tls: { certFile: config.MQTT_TLS_CERT, keyFile: config.MQTT_TLS_KEY, port: config.MQTT_TLS_PORT } } : {}),
        logger,
        authenticateDevice: (vin, secret) => deviceAuth.authenticate(vin, secret),
      });
      const embeddedBroker = broker;
      cleanups.push(() => embeddedBroker.close());
    }

    const metrics = createMetricsRegistry();
    const vehicleService = createVehicleService({
      vehicles,
      catalog: () => loaded.catalog,
      clock,
      disconnectDevice: (vin) => broker?.disconnect(vin),
      forgetVerifiedSecret: (vin) => deviceAuth.forget(vin),
    });
    const app = await buildApp({
      logger,
      adminToken: secrets.adminToken,
      metrics,
      readiness: {
        database: async () => (await pool.query('SELECT 1')).rowCount === 1,
        broker: async () => broker !== null,
      },
      routes: [(api) => vehicleRoutes(api, vehicleService)],
    });
    await app.listen({ host: config.HOST, port: config.PORT });
    cleanups.push(() => app.close());
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    const httpHost = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;

    return {
      app,
      pool,
      broker,
      httpUrl: `http://${httpHost === '0.0.0.0' ? '127.0.0.1' : httpHost}:${port}`,
      adminToken: secrets.adminToken,
      adminTokenGenerated: secrets.adminTokenGenerated,
      catalogVersion: loaded.version,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
