import type { Logger } from 'pino';
import { buildApp } from './api/app.js';
import type { FastifyZodInstance } from './api/types.js';
import { loadCatalog } from './catalog/index.js';
import { latestCatalog, recordCatalogVersion } from './catalog/repository.js';
import { checkCatalogCompatibility, type CatalogReferences } from './catalog/compatibility.js';
import { startEmbeddedBroker, type EmbeddedBroker, type UsagePublish } from './mqtt/embedded-broker.js';
import { rulesTopic, usageTopic } from './mqtt/topics.js';
import { connectExternalBroker, type ExternalBroker } from './mqtt/external-broker.js';
import { createBrokerMetrics } from './mqtt/metrics.js';
import { publishRulesIfChanged, republishControls } from './controls/republish.js';
import type { Clock } from './shared/clock.js';
import type { Config } from './shared/config.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './shared/db/embedded.js';
import { migrate } from './shared/db/migrate.js';
import { createPool, type Pool } from './shared/db/pool.js';
import { resolveSecrets } from './shared/dev-secrets.js';
import { createMetricsRegistry, OUTBOX_COUNT_CAP, registerDatabaseGauges } from './shared/metrics.js';
import { daysToMs, formatInstant } from './shared/time.js';
import { deleteDeadLettersBefore } from './ledger/dead-letters.js';
import { ledgerHasRecords, sponsorshipReferenced } from './ledger/repository.js';
import { rollupsReference } from './ledger/rollups.js';
import { sponsorInvoiced } from './billing/invoices.js';
import { appHasControlStates, outboxBacklog } from './controls/repository.js';
import { automakerReferenced } from './vehicles/fleet-repository.js';
import { packProductReferenced } from './vehicles/packs-repository.js';
import { createOutboxPublisher, type Publisher } from './controls/outbox-publisher.js';
import { createDeviceSync } from './controls/device-sync.js';
import { createFundingSweeper } from './controls/funding-sweeper.js';
import { createBackpressureGate, type GateState } from './ingest/backpressure.js';
import { createIngest, type Ingest } from './ingest/ingest-service.js';
import { createIngestMetrics } from './ingest/metrics.js';
import { compileRuntime, type CatalogRuntime } from './catalog/runtime.js';
import { createDeviceAuthenticator } from './vehicles/device-auth.js';
import { createVehicleRepository } from './vehicles/repository.js';
import { vehicleRoutes } from './vehicles/routes.js';
import { createApiKeyStore } from './api/api-keys.js';
import { sponsorKeyRoutes } from './sponsor-keys/routes.js';
import { createPackService } from './vehicles/packs.js';
import { reevaluateFunding } from './controls/funding.js';
import { createPeriodCloser, type ClosedPeriod } from './billing/close-period.js';
import { createInvoiceQueries } from './billing/invoices.js';
import { invoiceRoutes } from './billing/invoice-routes.js';
import { startPeriodicJob } from './shared/periodic-job.js';
import { listControls } from './controls/repository.js';
import { createVehicleService } from './vehicles/service.js';
import { usageRoutes } from './billing/usage-routes.js';
import { explainRoutes } from './ledger/explain-routes.js';
import { deadLetterRoutes } from './ledger/dead-letter-routes.js';
import { createSimModule } from './sims/module.js';
import { orderReferences, simExists } from './sims/repository.js';
import { createEinvoiceService } from './einvoice/service.js';
import { createMerchantRepository } from './merchants/repository.js';
import { merchantRoutes } from './merchants/routes.js';
import { resolveProviders } from './providers.js';
import { createPiiVault } from './shared/pii.js';
import { webRoutes } from './web/routes.js';
import { createTimeseriesExporter } from './timeseries/index.js';
import { createAssuranceModule } from './assurance/module.js';
import { createWebhookDeliverer } from './webhooks/deliverer.js';
import { webhookRoutes } from './webhooks/routes.js';
import { createWebhookService } from './webhooks/service.js';
import { createAlertEvaluator } from './alerts/evaluator.js';
import { createAlertRules } from './alerts/rules.js';
import { alertRoutes } from './alerts/routes.js';

export interface Service {
  app: FastifyZodInstance;
  pool: Pool;
  broker: EmbeddedBroker | null;
  ingest: Ingest;
  /** the back-pressure gate in front of ingest (issue 11), read-only */
  ingestGate: GateState;
  runtime: CatalogRuntime;
  /** Periodic jobs, also callable directly (tests, operators). */
  jobs: { fundingSweep(): Promise<number>; closeDuePeriods(): Promise<ClosedPeriod[]>; expireDeadLetters(): Promise<number>; deliverWebhooks(): Promise<number>; evaluateAlerts(): Promise<number> };
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
    const runtime = compileRuntime(loaded);
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
    const incompatible = await checkCatalogCompatibility(catalogReferences(pool), loaded.catalog);
    if (incompatible.length > 0) throw new Error(`the catalog in ${config.CATALOG_DIR} cannot replace the one in use:\n${incompatible.map((p) => `  - ${p}`).join('\n')}`);
    const catalogVersion = await recordCatalogVersion(pool, loaded.version, loaded.canonical, new Date(clock.now()));

    const metrics = createMetricsRegistry();
    registerDatabaseGauges(metrics, pool, () => outboxBacklog(pool, OUTBOX_COUNT_CAP));
    // Registration refuses a card a merchant holds (src/sims/README.md, vehicle cards).
    const vehicles = createVehicleRepository(pool, { cardHeld: simExists });
    const deviceAuth = createDeviceAuthenticator({ findSecret: (vin) => vehicles.findSecret(vin), clock });
    // The broker is started below; until then nothing can publish (no device is connected either).
    let broker: EmbeddedBroker | null = null;
    let external: ExternalBroker | null = null;
    const publisher: Publisher = {
      publish: (topic, payload, options) => {
        const link = broker ?? external;
        return link ? link.publish(topic, payload, options) : Promise.reject(new Error('broker not started'));
      },
    };
    const formatAt = (ms: number) => formatInstant(ms, runtime.timezone);
    const outbox = createOutboxPublisher({ pool, publisher, logger, clock, formatAt });
    cleanups.push(async () => outbox.stop());
    // One pipelined connection per ingest lane, apart from the pool that serves requests and jobs.
    const writerPool = createPool(databaseUrl, config.INGEST_LANES, { pipeline: true });
    writerPool.on('error', (error) => logger.warn({ err: error.message }, 'idle ingest connection failed'));
    cleanups.push(() => writerPool.end());
    // Issue 11: at most INGEST_MAX_PENDING_BYTES of usage payload inside ingest; above it the broker edge
    // stops taking usage until half of it is written (src/ingest/README.md, Back-pressure).
    const gate = createBackpressureGate({
      maxPendingBytes: config.INGEST_MAX_PENDING_BYTES,
      onChange: (open, state) => logger.debug({ component: 'ingest', pendingBytes: state.pendingBytes, waiting: state.waiting }, open ? 'ingest gate open: taking usage again' : 'ingest gate closed: usage held at the broker'),
    });
    // Issue 14: usage alerts, evaluated after each batch for what it billed, and swept for what time changes.
    const alerts = createAlertEvaluator({ pool, clock, catalog: () => loaded.catalog, logger });
    // (cleanups run in reverse: ingest stops first, then the evaluation it started ends, then the pool)
    cleanups.push(() => alerts.idle());
    const ingest = createIngest({
      pool,
      writerPool,
      lanes: config.INGEST_LANES,
      catalogVersionId: catalogVersion.id,
      runtime,
      clock,
      logger,
      outbox,
      metrics: createIngestMetrics(metrics, gate),
      publishAck: (topic, payload) => publisher.publish(topic, payload, { qos: 1, retain: false }),
      maxRecords: config.BATCH_MAX_RECORDS,
      maxMs: config.BATCH_MAX_MS,
      afterCommit: (touched) => alerts.afterBatch(touched),
    });
    await ingest.prepare();
    // An admitted message gives its room back once ingest has written it (or, failing that, when it settles).
    const submitUsage = ({ vin, payload, release }: UsagePublish) => ingest.submit({ vin, topic: usageTopic(vin), payload, onWritten: release }).finally(release);
    const syncDevice = createDeviceSync({ pool, publisher, rulesPayload: runtime.rulesPayload, logger, formatAt });
    if (!config.MQTT_URL) {
      broker = await startEmbeddedBroker({
        host: config.MQTT_HOST,
        // DESIGN 5.1: outside dev mode devices speak TLS, here or at a declared TLS-terminating proxy.
        plaintext: config.devMode || config.MQTT_PLAINTEXT ? { port: config.MQTT_PORT, behindProxy: config.MQTT_PLAINTEXT === 'behind-tls-proxy' } : null,
        ...(config.MQTT_TLS_CERT && config.MQTT_TLS_KEY ? { tls: { certFile: config.MQTT_TLS_CERT, keyFile: config.MQTT_TLS_KEY, port: config.MQTT_TLS_PORT } } : {}),
        maxConnections: config.MQTT_MAX_CONNECTIONS,
        maxKeepaliveSeconds: config.MQTT_MAX_KEEPALIVE,
        logger,
        metrics: createBrokerMetrics(metrics),
        authenticateDevice: (vin, secret, source) => deviceAuth.authenticate(vin, secret, source),
        onUsage: submitUsage,
        gate,
        onDeviceReady: (vin) => void syncDevice(vin),
      });
      const embeddedBroker = broker;
      cleanups.push(() => embeddedBroker.close());
      // Flush what was received before the broker goes (its PUBACKs wait on these commits).
      cleanups.push(() => ingest.stop());
      await outbox.drain();
    } else {
      // DESIGN 3.3/3.4: after every (re)connect, pending outbox rows, every non-default control and (when
      // the catalog changed) the rules go out again; one republish at a time.
      let republishing: Promise<void> | null = null;
      const republish = () => {
        republishing ??= (async () => {
          await outbox.drain();
          const controls = await republishControls(pool, publisher, formatAt);
          const rules = await publishRulesIfChanged(pool, publisher, runtime.version, runtime.rulesPayload, new Date(clock.now()));
          logger.info({ controls, rules }, 'retained state republished to the broker');
        })()
          .catch((error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'republish failed; will retry on the next connect'))
          .finally(() => {
            republishing = null;
          });
      };
      external = await connectExternalBroker({
        url: config.MQTT_URL,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        shareGroup: config.MQTT_SHARE_GROUP,
        logger,
        onUsage: submitUsage,
        gate,
        onConnected: republish,
      });
      const externalBroker = external;
      cleanups.push(() => externalBroker.close());
      cleanups.push(() => ingest.stop());
    }
    // Outbox rows a killed instance committed but never published: any instance sends them after 10 s.
    const outboxSweep = startPeriodicJob('outbox-sweep', () => outbox.sweepStale(10_000), 5_000, logger);
    cleanups.push(() => outboxSweep.stop());
    // Dead letters are kept DEAD_LETTER_RETENTION_DAYS (read from the clock at each run, never cached).
    const expireDeadLetters = () => deleteDeadLettersBefore(pool, clock.now() - daysToMs(config.DEAD_LETTER_RETENTION_DAYS));
    const deadLetterRetention = startPeriodicJob('dead-letter-retention', expireDeadLetters, 3_600_000, logger);
    cleanups.push(() => deadLetterRetention.stop());
    const sweeper = createFundingSweeper({ pool, runtime: () => runtime, clock, outbox, logger });
    const sweeping = startPeriodicJob('funding-sweep', () => sweeper.runOnce(), 60_000, logger);
    cleanups.push(() => sweeping.stop());
    if (config.INFLUX_URL) {
      // DESIGN 2, 7: beside ingest, never inside it; the INFLUX_* variables go together (config.ts).
      const timeseries = createTimeseriesExporter({
        pool,
        clock,
        logger,
        registry: metrics,
        url: config.INFLUX_URL,
        token: config.INFLUX_TOKEN ?? '',
        org: config.INFLUX_ORG ?? '',
        bucket: config.INFLUX_BUCKET ?? '',
      });
      timeseries.start();
      cleanups.push(() => timeseries.stop());
    }
    const apiKeys = createApiKeyStore(pool, clock);
    const assurance = createAssuranceModule({ pool, clock, config, metrics, catalog: () => loaded.catalog });
    const closer = createPeriodCloser({ pool, catalog: () => loaded.catalog, catalogVersion: () => loaded.version, clock, logger, unreported: assurance.unreported });
    const invoices = createInvoiceQueries(pool, () => runtime.timezone);
    const billingScheduler = startPeriodicJob('period-close', () => closer.closeDue(), 5 * 60_000, logger);
    cleanups.push(() => billingScheduler.stop());
    const packs = createPackService({ pool, runtime: () => runtime, clock, funding: { reevaluate: reevaluateFunding, send: (messages) => outbox.send(messages) } });
    const vehicleService = createVehicleService({
      vehicles,
      catalog: () => loaded.catalog,
      clock,
      disconnectDevice: (vin) => broker?.disconnect(vin),
      forgetVerifiedSecret: (vin) => deviceAuth.forget(vin),
      // The embedded broker sends rules when a device connects; an external one keeps them retained.
      ...(external
        ? { onRegistered: (vin: string) => void publisher.publish(rulesTopic(vin), runtime.rulesPayload, { qos: 1, retain: true }).catch(() => undefined) }
        : {}),
    });
    // The SIM business (DESIGN 6): its providers (src/providers.ts), the merchants who sell cards and their
    // e-invoices are wired here and handed to the SIM module; the SIM module owns the cards and their orders.
    const simLogger = logger.child({ component: 'sims' });
    const providers = await resolveProviders(config, { logger: simLogger });
    cleanups.push(() => providers.close());
    const vault = createPiiVault(secrets.piiKey, secrets.piiKeyPrevious);
    const merchants = createMerchantRepository(pool, clock);
    const einvoices = createEinvoiceService({
      pool,
      vault,
      platform: () => providers.taxPlatform,
      clock,
      logger: simLogger,
      orderReferences: (orderIds) => orderReferences(pool, orderIds),
    });
    const sims = createSimModule({
      pool,
      runtime: () => runtime,
      clock,
      outbox,
      logger,
      vault,
      merchants,
      einvoices,
      realName: providers.realName,
      reencryptOnStart: secrets.piiKeyPrevious !== null,
    });
    await sims.start();
    cleanups.push(() => sims.stop());
    // Issue 14: signed webhooks from the outbox the domains write in their transactions (src/webhooks).
    const allowPrivateWebhookTargets = (config.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? (config.devMode ? 'true' : 'false')) === 'true';
    const webhooks = createWebhookDeliverer({ pool, vault, clock, logger, allowPrivateTargets: allowPrivateWebhookTargets });
    const ownerExists = async (kind: 'sponsor' | 'merchant', id: string) => (kind === 'sponsor' ? loaded.catalog.sponsors.some((s) => s.id === id) : (await merchants.find(id)) !== null);
    const webhookService = createWebhookService({
      pool,
      vault,
      clock,
      timezone: () => runtime.timezone,
      ownerExists,
      allowPrivateTargets: allowPrivateWebhookTargets,
    });
    const webhookDelivery = startPeriodicJob('webhook-delivery', () => webhooks.runOnce(), config.WEBHOOK_INTERVAL_MS, logger);
    cleanups.push(() => webhookDelivery.stop());
    const alertSweep = startPeriodicJob('alerts-sweep', () => alerts.sweep(), 60_000, logger);
    cleanups.push(() => alertSweep.stop());
    const alertRules = createAlertRules({ pool, clock, catalog: () => loaded.catalog, onChange: () => alerts.rulesChanged() });
    const app = await buildApp({
      logger,
      adminToken: secrets.adminToken,
      apiKeys,
      metrics,
      // 50 requests of burst, 20 per second sustained, per token (or per address without one).
      rateLimit: { capacity: 50, refillPerSecond: 20 },
      trustProxy: config.TRUST_PROXY,
      readiness: {
        database: async () => (await pool.query('SELECT 1')).rowCount === 1,
        broker: async () => broker !== null || (external?.connected() ?? false),
      },
      routes: [
        (api) =>
          vehicleRoutes(api, {
            service: vehicleService,
            packs,
            details: async (vin) => ({ packs: await packs.list(pool, vin), controls: await listControls(pool, vin) }),
            swapIccid: (vin, iccid, actor) => sims.swapVehicleCard(vin, iccid, actor),
          }),
        (api) => sims.routes(api),
        (api) => merchantRoutes(api, { merchants, keys: apiKeys }),
        (api) => sponsorKeyRoutes(api, { keys: apiKeys, catalog: () => loaded.catalog }),
        (api) => invoiceRoutes(api, { pool, invoices, closer, catalog: () => loaded.catalog, catalogVersion: () => loaded.version, clock }),
        (api) => usageRoutes(api, { pool, catalog: () => loaded.catalog, clock }),
        (api) => explainRoutes(api, { pool, catalog: () => loaded.catalog }),
        (api) => deadLetterRoutes(api, { pool, catalog: () => loaded.catalog }),
        (api) => assurance.routes(api),
        (api) => webhookRoutes(api, webhookService),
        (api) => alertRoutes(api, { rules: alertRules, ownerExists }),
        (api) => webRoutes(api, { pool, apiKeys, adminToken: secrets.adminToken, catalog: () => loaded.catalog, invoices, metrics, clock, merchantPortal: sims.readers, webhooks: webhookService, alerts: alertRules, assurance: { reconciliation: assurance.reconciliation, breakage: assurance.breakage, signals: assurance.signals, carrierTimezone: config.CARRIER_TIMEZONE } })],
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
      ingest,
      ingestGate: gate,
      runtime,
      jobs: { fundingSweep: () => sweeper.runOnce(), closeDuePeriods: () => closer.closeDue(), expireDeadLetters, deliverWebhooks: () => webhooks.runOnce(), evaluateAlerts: () => alerts.sweep() },
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

/** The catalog's compatibility check asks each table's owner whether the ledger still references an id. */
function catalogReferences(pool: Pool): CatalogReferences {
  return {
    previous: () => latestCatalog(pool),
    ledgerHasRecords: () => ledgerHasRecords(pool),
    sponsorReferenced: async (id) => (await rollupsReference(pool, 'sponsor', id)) || (await sponsorInvoiced(pool, id)) || (await automakerReferenced(pool, id)),
    appReferenced: async (id) => (await rollupsReference(pool, 'app', id)) || (await appHasControlStates(pool, id)),
    sponsorshipReferenced: (id) => sponsorshipReferenced(pool, id),
    packReferenced: (id) => packProductReferenced(pool, id),
  };
}
