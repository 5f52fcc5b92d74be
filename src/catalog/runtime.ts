import { compileFunding, type CompiledFunding } from '../allocate/index.js';
import type { LoadedCatalog } from './load.js';
import { BUILT_IN_APPS, type Catalog } from './schema.js';
import { compileClassifier, appSignatures, type Classifier } from '../classify/index.js';

/**
 * Default catalog `billing.maxLinkMbps`: 10,000 Mbit/s (up + down). A vehicle's 5G module peaks at a few
 * Gbit/s (3GPP NR Sub-6 with the carrier aggregation of current T-Box modems), so no real record comes
 * near it, while a tampered record (2^40 bytes in one minute is ~147,000 Mbit/s) is refused.
 */
export const DEFAULT_MAX_LINK_MBPS = 10_000;

/** A catalog version compiled once for the hot path: classifier tries, funding tables, blockable apps. */
export interface CatalogRuntime {
  catalog: Catalog;
  version: string;
  timezone: string;
  maxLateDays: number | null;
  /** catalog `billing.maxLinkMbps` with its default */
  maxLinkMbps: number;
  classifier: Classifier;
  funding: CompiledFunding;
  /** apps that may carry a block (DESIGN 3.3: `blockable: false` apps never do); built-ins included */
  blockableApps: readonly string[];
  /** the DESIGN 3.4 rules message, serialised once */
  rulesPayload: string;
}

export function compileRuntime(loaded: Pick<LoadedCatalog, 'catalog' | 'version'>): CatalogRuntime {
  const { catalog, version } = loaded;
  return {
    catalog,
    version,
    timezone: catalog.billing.timezone,
    maxLateDays: catalog.billing.maxLateDays ?? null,
    maxLinkMbps: catalog.billing.maxLinkMbps ?? DEFAULT_MAX_LINK_MBPS,
    classifier: compileClassifier(catalog.apps),
    funding: compileFunding(catalog),
    blockableApps: [...catalog.apps.filter((app) => app.blockable !== false).map((app) => app.id), ...BUILT_IN_APPS],
    rulesPayload: JSON.stringify({ v: 1, catalogVersion: version, apps: appSignatures(catalog.apps) }),
  };
}
