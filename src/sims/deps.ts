import type { Logger } from 'pino';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { OutboxEntry } from '../controls/repository.js';
import type { EinvoiceService } from '../einvoice/service.js';
import type { MerchantRepository } from '../merchants/repository.js';
import type { RealNameProvider } from '../realname/provider.js';
import type { SubjectStore } from '../realname/subjects.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import type { PiiVault } from '../shared/pii.js';

/** What every SIM service needs; built once by the module (src/sims/module.ts). */
export interface SimDeps {
  pool: Pool;
  runtime: () => CatalogRuntime;
  clock: Clock;
  outbox: { send(entries: readonly OutboxEntry[]): Promise<void> };
  vault: PiiVault;
  subjects: SubjectStore;
  merchants: Pick<MerchantRepository, 'find'>;
  einvoices: EinvoiceService;
  realName: () => RealNameProvider;
  logger: Logger;
}
