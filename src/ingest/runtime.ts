import { compileFunding, type CompiledFunding } from '../allocate/index.js';
import type { LoadedCatalog } from '../catalog/index.js';
import { BUILT_IN_APPS, type Catalog } from '../catalog/index.js';
import { DEFAULT_MAX_LINK_MBPS } from './parse-usage.js';
import { compileClassifier, appSignatures, type Classifier } from '../classify/index.js';

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
