import type { Logger } from 'pino';
import type { FastifyZodInstance } from '../api/types.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { OutboxEntry } from '../controls/repository.js';
import type { EinvoiceService } from '../einvoice/service.js';
import type { MerchantRepository } from '../merchants/repository.js';
import type { RealNameProvider } from '../realname/provider.js';
import { createSubjectStore } from '../realname/subjects.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { startPeriodicJob } from '../shared/periodic-job.js';
import type { PiiVault } from '../shared/pii.js';
import type { SimDeps } from './deps.js';
import { createInventory, type Inventory } from './inventory.js';
import { createSimJobs, type SimJobReport } from './jobs.js';
import { createLifecycle } from './lifecycle.js';
import { merchantSimRoutes } from './merchant-routes.js';
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
  vault: PiiVault;
  /** the merchant registry (src/merchants): sellers of the cards */
  merchants: MerchantRepository;
  /** e-invoices of orders and refunds (src/einvoice) */
  einvoices: EinvoiceService;
  /** the real-name provider the composition root chose (src/providers.ts) */
  realName: RealNameProvider;
  /** PII_KEY_PREVIOUS is set: re-encrypt old ciphertexts with the current key in the background at start */
  reencryptOnStart: boolean;
  /** how often the lifecycle jobs run (suspension, monthly packs, reconciliation, e-invoice retries) */
  jobIntervalMs?: number;
}

export interface SimModule {
  /** Starts the jobs (and the background re-encryption after a key rotation). */
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
 * The IoT SIM lifecycle of DESIGN 6 — inventory, real-name, the state machine, orders, refunds, recharges,
 * settlement and e-invoices — composed from its parts and from what the composition root hands over
 * (merchants, e-invoices, the real-name provider). Nothing runs until start().
 */
export function createSimModule(options: SimModuleOptions): SimModule {
  const logger = options.logger.child({ component: 'sims' });
  const { vault, merchants, einvoices } = options;
  const subjects = createSubjectStore(vault);
  const deps: SimDeps = {
    pool: options.pool,
    runtime: options.runtime,
    clock: options.clock,
    outbox: options.outbox,
    vault,
    subjects,
    merchants,
    einvoices,
    realName: () => options.realName,
    logger,
  };
  const lifecycle = createLifecycle(deps);
  const orders = createOrders(deps);
  const inventory = createInventory(deps);
  const personalData = createPersonalData(deps);
  const swap = createSimSwap(deps);
  const jobs = createSimJobs(deps, lifecycle);
  const views = createViews({ vault, subjects, einvoices, catalog: () => options.runtime().catalog, timeZone: () => options.runtime().timezone });

  let periodic: { stop(): Promise<void> } | null = null;
  const module: SimModule = {
    async start() {
      if (options.reencryptOnStart) {
        // Rotation: move old ciphertexts to the current key in the background; the previous key still decrypts meanwhile.
        void personalData.reencryptAll().catch((error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, 'personal data re-encryption failed'));
      }
      periodic = startPeriodicJob('sim-lifecycle', () => jobs.runOnce(), options.jobIntervalMs ?? 60_000, logger);
    },
    async stop() {
      await periodic?.stop();
    },
    routes(app) {
      simRoutes(app, { pool: options.pool, clock: options.clock, runtime: options.runtime, lifecycle, orders, personalData, einvoices, jobs, views });
      merchantSimRoutes(app, { pool: options.pool, clock: options.clock, runtime: options.runtime, merchants, inventory, einvoices, views });
      app.decorate('simLifecycle', { runJobs: () => jobs.runOnce() });
    },
    runJobs: () => jobs.runOnce(),
    swapVehicleCard: (vin, iccid, actor) => swap(vin, iccid, { actor, merchantId: null }),
    readers: { merchants, inventory, views, einvoices },
  };
  return module;
}
