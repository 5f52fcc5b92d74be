import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createHttpTaxPlatform, unconfiguredTaxPlatform, type TaxPlatform } from './einvoice/provider.js';
import { createHttpRealNameProvider, unconfiguredRealNameProvider, type RealNameProvider } from './realname/provider.js';

/**
 * The external providers of the SIM business (DESIGN 6), chosen once by the composition root: a configured
 * URL → its HTTP client; dev mode without a URL → the in-process simulator (`simulators/`), spoken to over
 * HTTP like the real one; otherwise the unconfigured provider (real-name 503, e-invoices stay pending).
 * The only module of `src/` that loads a simulator, and only in dev mode.
 */

export interface ProviderConfig {
  devMode: boolean;
  REALNAME_URL?: string | undefined;
  REALNAME_TOKEN?: string | undefined;
  EINVOICE_URL?: string | undefined;
  EINVOICE_TOKEN?: string | undefined;
}

export interface Providers {
  realName: RealNameProvider;
  taxPlatform: TaxPlatform;
  /** Stops the in-process simulators this call started (none outside dev mode). */
  close(): Promise<void>;
}

export async function resolveProviders(config: ProviderConfig, options: { logger: Logger; timeoutMs?: number }): Promise<Providers> {
  const logger = options.logger;
  // per provider call; a slower answer is a timeout, retried with the same idempotency key
  const timeoutMs = options.timeoutMs ?? 3_000;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closeOne of closers.splice(0).reverse()) await closeOne().catch(() => undefined);
  };
  try {
    let realName: RealNameProvider = unconfiguredRealNameProvider();
    if (config.REALNAME_URL) {
      realName = createHttpRealNameProvider({ baseUrl: config.REALNAME_URL, token: config.REALNAME_TOKEN, timeoutMs });
      logger.info({ url: config.REALNAME_URL }, 'real-name provider configured');
    } else if (config.devMode) {
      const { startRealNameSimulator } = await import('../simulators/realname/simulator.js');
      const token = randomBytes(24).toString('base64url');
      const simulator = await startRealNameSimulator({ token, onLog: (line) => logger.debug({ simulator: 'realname', ...line }, 'real-name simulator') });
      closers.push(() => simulator.close());
      realName = createHttpRealNameProvider({ baseUrl: simulator.url, token, timeoutMs });
      logger.info({ url: simulator.url }, 'REALNAME_URL is not set: using the in-process real-name simulator (dev mode only; livenessToken pass… verifies, fail… is rejected)');
    } else {
      logger.warn('REALNAME_URL is not set: real-name verification is unavailable (503) until it is');
    }
    let taxPlatform: TaxPlatform = unconfiguredTaxPlatform();
    if (config.EINVOICE_URL) {
      taxPlatform = createHttpTaxPlatform({ baseUrl: config.EINVOICE_URL, token: config.EINVOICE_TOKEN, timeoutMs });
      logger.info({ url: config.EINVOICE_URL }, 'tax platform configured');
    } else if (config.devMode) {
      const { startTaxSimulator } = await import('../simulators/einvoice/simulator.js');
      const token = randomBytes(24).toString('base64url');
      const simulator = await startTaxSimulator({ token, onLog: (line) => logger.debug({ simulator: 'einvoice', ...line }, 'tax platform simulator') });
      closers.push(() => simulator.close());
      taxPlatform = createHttpTaxPlatform({ baseUrl: simulator.url, token, timeoutMs });
      logger.info({ url: simulator.url }, 'EINVOICE_URL is not set: using the in-process tax platform simulator (dev mode only)');
    } else {
      logger.warn('EINVOICE_URL is not set: e-invoices stay pending until it is');
    }
    return { realName, taxPlatform, close };
  } catch (error) {
    await close();
    throw error;
  }
}
