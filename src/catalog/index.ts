export { loadCatalog, parseCatalogYaml, type LoadedCatalog } from './load.js';
export {
  validateCatalog,
  checkCatalogFile,
  compareFileNames,
  type CatalogInputFile,
  type CatalogValidation,
} from './validate.js';
export { canonicalJson, catalogVersion } from './version.js';
export { CatalogError, formatProblem, type CatalogProblem } from './problems.js';
export { parseHostPattern, type HostPattern } from './host-pattern.js';
export {
  BUILT_IN_APPS,
  CatalogFileSchema,
  CatalogSchema,
  type App,
  type Billing,
  type Catalog,
  type CatalogFile,
  type Overage,
  type OverageEntry,
  type Pack,
  type Plan,
  type Sponsor,
  type SponsorKind,
  type Sponsorship,
} from './schema.js';
