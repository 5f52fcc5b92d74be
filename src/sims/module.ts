import { randomBytes } from 'node:crypto';
import { startPeriodicJob } from '../shared/periodic-job.js';
import type { Logger } from 'pino';
import type { ApiKeyStore } from '../api/api-keys.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { OutboxEntry } from '../controls/repository.js';
import { createHttpTaxPlatform, unconfiguredTaxPlatform, type TaxPlatform } from '../einvoice/provider.js';
import { createEinvoiceService, type EinvoiceService } from '../einvoice/service.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import { createMerchantRepository, type MerchantRepository } from '../merchants/repository.js';
import { merchantRoutes } from '../merchants/routes.js';
import { createHttpRealNameProvider, unconfiguredRealNameProvider, type RealNameProvider } from '../realname/provider.js';
import { createSubjectStore } from '../realname/subjects.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { createPiiVault, type PiiVault } from '../shared/pii.js';
import type { SimDeps } from './context.js';
import { createInventory, type Inventory } from './inventory.js';
import { createSimJobs, type SimJobReport } from './jobs.js';
import { createLifecycle } from './lifecycle.js';
import { createOrders } from './orders.js';
import { createPersonalData } from './personal-data.js';
import { simRoutes } from './routes.js';
import { createSimSwap } from './swap.js';
import { createViews, type Views } from './views.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The SIM lifecycle's jobs, callable directly (tests, operators' scripts). */
    simLifecycle?: { runJobs(): Promise<SimJobReport> };
  }
}

export interface SimModuleOptions {
  pool: Pool;
  runtime: () => CatalogRuntime;
  clock: Clock;
  outbox: { send(entries: readonly OutboxEntry[]): Promise<void> };
  logger: Logger;
  apiKeys: ApiKeyStore;
  config: { devMode: boolean; REALNAME_URL?: string | undefined; REALNAME_TOKEN?: string | undefined; EINVOICE_URL?: string | undefined; EINVOICE_TOKEN?: string | undefined };
  piiKey: Buffer;
  piiKeyPrevious: Buffer | null;
  /** per provider call; a slower answer is a timeout, retried with the same idempotency key */
  providerTimeoutMs?: number;
  /** how often the lifecycle jobs run (suspension, monthly packs, reconciliation, e-invoice retries) */
  jobIntervalMs?: number;
}

export interface SimModule {
  vault: PiiVault;
  /** Resolves the providers (in-process simulators in dev mode when no URL is set) and starts the jobs. */
  start(): Promise<void>;
  stop(): Promise<void>;
  routes(app: FastifyZodInstance): void;
  runJobs(): Promise<SimJobReport>;
  /** SIM swap (`PUT /v1/vehicles/{vin}/iccid`, routed by src/vehicles): the admin gives a vehicle a free card. */
  swapVehicleCard(vin: string, iccid: string, actor: string): Promise<{ changed: boolean }>;
  /** Read-only parts for the web's merchant portal (src/web): the very objects the merchant API routes use. */
  readers: { merchants: MerchantRepository; inventory: Inventory; views: Views; einvoices: EinvoiceService };
}

/**
 * The IoT SIM lifecycle of DESIGN 6 — merchants, inventory, real-name, the state machine, orders, refunds,
 * recharges, settlement and e-invoices — composed from its parts. Nothing connects until start().
 */
export function createSimModule(options: SimModuleOptions): SimModule {
  const logger = options.logger.child({ component: 'sims' });
  const timeoutMs = options.providerTimeoutMs ?? 3_000;
  const vault = createPiiVault(options.piiKey, options.piiKeyPrevious);
  let realName: RealNameProvider = unconfiguredRealNameProvider();
  let platform: TaxPlatform = unconfiguredTaxPlatform();
  const closers: Array<() => Promise<void>> = [];

  const merchants = createMerchantRepository(options.pool, options.clock);
  const subjects = createSubjectStore(vault);
  const einvoices = createEinvoiceService({ pool: options.pool, vault, platform: () => platform, clock: options.clock, logger });
  const deps: SimDeps = {
    pool: options.pool,
    runtime: options.runtime,
    clock: options.clock,
    outbox: options.outbox,
    vault,
    subjects,
    merchants,
    einvoices,
    realName: () => realName,
    logger,
  };
  const lifecycle = createLifecycle(deps);
  const orders = createOrders(deps);
  const inventory = createInventory(deps);
  const personalData = createPersonalData(deps);
  const swap = createSimSwap(deps);
  const jobs = createSimJobs(deps, lifecycle);
  const views = createViews({ vault, subjects, einvoices, catalog: () => options.runtime().catalog, timeZone: () => options.runtime().timezone });

  async function resolveProviders(): Promise<void> {
    if (options.config.REALNAME_URL) {
      realName = createHttpRealNameProvider({ baseUrl: options.config.REALNAME_URL, token: options.config.REALNAME_TOKEN, timeoutMs });
      logger.info({ url: options.config.REALNAME_URL }, 'real-name provider configured');
    } else if (options.config.devMode) {
      const { startRealNameSimulator } = await import('../../simulators/realname/simulator.js');
      const token = randomBytes(24).toString('base64url');
      const simulator = await startRealNameSimulator({ token, onLog: (line) => logger.debug({ simulator: 'realname', ...line }, 'real-name simulator') });
      closers.push(() => simulator.close());
      realName = createHttpRealNameProvider({ baseUrl: simulator.url, token, timeoutMs });
      logger.info({ url: simulator.url }, 'REALNAME_URL is not set: using the in-process real-name simulator (dev mode only; livenessToken pass… verifies, fail… is rejected)');
    } else {
      logger.warn('REALNAME_URL is not set: real-name verification is unavailable (503) until it is');
    }
    if (options.config.EINVOICE_URL) {
      platform = createHttpTaxPlatform({ baseUrl: options.config.EINVOICE_URL, token: options.config.EINVOICE_TOKEN, timeoutMs });
      logger.info({ url: options.config.EINVOICE_URL }, 'tax platform configured');
    } else if (options.config.devMode) {
      const { startTaxSimulator } = await import('../../simulators/einvoice/simulator.js');
      const token = randomBytes(24).toString('base64url');
      const simulator = await startTaxSimulator({ token, onLog: (line) => logger.debug({ simulator: 'einvoice', ...line }, 'tax platform simulator') });
      closers.push(() => simulator.close());
      platform = createHttpTaxPlatform({ baseUrl: simulator.url, token, timeoutMs });
      logger.info({ url: simulator.url }, 'EINVOICE_URL is not set: using the in-process tax platform simulator (dev mode only)');
    } else {
      logger.warn('EINVOICE_URL is not set: e-invoices stay pending until it is');
    }
  }

  let periodic: { stop(): Promise<void> } | null = null;
  const module: SimModule = {
    vault,
    async start() {
      await resolveProviders();
      if (options.piiKeyPrevious) {
        // Rotation: move old ciphertexts to the current key in the background; the previous key still decrypts meanwhile.
        void personalData.reencryptAll().catch((error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, 'personal data re-encryption failed'));
      }
      periodic = startPeriodicJob('sim-lifecycle', () => jobs.runOnce(), options.jobIntervalMs ?? 60_000, logger);
    },
    async stop() {
      await periodic?.stop();
      for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    },
    routes(app) {
      simRoutes(app, { pool: options.pool, clock: options.clock, runtime: options.runtime, lifecycle, orders, personalData, einvoices, jobs, views });
      merchantRoutes(app, { pool: options.pool, clock: options.clock, runtime: options.runtime, merchants, keys: options.apiKeys, inventory, einvoices, views });
      app.decorate('simLifecycle', { runJobs: () => jobs.runOnce() });
    },
    runJobs: () => jobs.runOnce(),
    swapVehicleCard: (vin, iccid, actor) => swap(vin, iccid, { actor, merchantId: null }),
    readers: { merchants, inventory, views, einvoices },
  };
  return module;
}
