import type { z } from 'zod';
import { ALL_FILES, issuesToProblems, type CatalogProblem } from './problems.js';
import { ANY_ID, checkCatalogRules, type CatalogSources, type Located } from './rules.js';
import {
  AppSchema,
  BillingSchema,
  CatalogFileSchema,
  OverageSchema,
  PackSchema,
  PlanSchema,
  SponsorSchema,
  SponsorshipSchema,
  LIST_SECTIONS,
  type Billing,
  type Catalog,
  type ListSection,
  type Overage,
} from './schema.js';
import { catalogVersion } from './version.js';

/** One parsed catalog file: its name in the folder and its YAML content as plain data. */
export interface CatalogInputFile {
  file: string;
  content: unknown;
}

export type CatalogValidation =
  | { catalog: Catalog; version: string; problems: [] }
  | { catalog: null; version: null; problems: CatalogProblem[] };

/** DESIGN 4: files are read in byte order of their names (not locale order: `10-b` before `2-a`). */
export function compareFileNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface FileCheck {
  problems: CatalogProblem[];
  sources: Omit<CatalogSources, 'overage' | 'billing'>;
  /** absent when the file has no such section; `value` absent when the section is invalid */
  overage: { value?: Overage } | undefined;
  billing: { value?: Billing } | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates one file on its own. Problems come from the whole-file schema; entries are then parsed
 * one by one so a bad entry does not hide the cross-file checks of its valid neighbours.
 */
export function checkCatalogFile(file: string, content: unknown): FileCheck {
  // A file that is empty or only comments is an empty part of the catalog.
  const data = content ?? {};
  const parsed = CatalogFileSchema.safeParse(data, { reportInput: true });
  const problems = parsed.success ? [] : issuesToProblems(file, parsed.error.issues);
  const raw = isRecord(data) ? data : {};
  const invalidIds = Object.fromEntries(LIST_SECTIONS.map((s) => [s, new Set<string>()])) as Record<
    ListSection,
    Set<string>
  >;

  function collect<T>(section: ListSection, schema: z.ZodType<T>): Located<T>[] {
    const items = raw[section];
    if (items === undefined) return [];
    if (!Array.isArray(items)) {
      // The whole section is unreadable: treat every id of this kind as known (see CatalogSources).
      invalidIds[section].add(ANY_ID);
      return [];
    }
    return items.flatMap((item: unknown, index): Located<T>[] => {
      const result = schema.safeParse(item);
      if (result.success) return [{ file, index, value: result.data }];
      if (isRecord(item) && typeof item.id === 'string') invalidIds[section].add(item.id);
      return [];
    });
  }
  function single<T>(key: 'overage' | 'billing', schema: z.ZodType<T>): { value?: T } | undefined {
    if (raw[key] === undefined) return undefined;
    const result = schema.safeParse(raw[key]);
    return result.success ? { value: result.data } : {};
  }

  return {
    problems,
    sources: {
      sponsors: collect('sponsors', SponsorSchema),
      apps: collect('apps', AppSchema),
      sponsorships: collect('sponsorships', SponsorshipSchema),
      packs: collect('packs', PackSchema),
      plans: collect('plans', PlanSchema),
      invalidIds,
    },
    overage: single('overage', OverageSchema),
    billing: single('billing', BillingSchema),
  };
}

/** DESIGN 4: `overage` and `billing` appear in exactly one file. */
function pickSingle<T>(
  key: 'overage' | 'billing',
  checks: Array<{ file: string; part: { value?: T } | undefined }>,
  problems: CatalogProblem[],
): Located<T> | undefined {
  const present = checks.filter((c) => c.part !== undefined);
  const first = present[0];
  if (!first) {
    problems.push({ file: ALL_FILES, path: key, message: 'is missing: exactly one file must define it' });
    return undefined;
  }
  for (const other of present.slice(1)) {
    const message = `is also defined in ${first.file}: exactly one file may define it`;
    problems.push({ file: other.file, path: key, message });
  }
  const value = first.part?.value;
  return present.length === 1 && value !== undefined ? { file: first.file, index: 0, value } : undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates and merges parsed catalog files (sorted here by byte order of name, so the caller's
 * order does not matter). Pure: no disk, no clock. Returns every problem, or the frozen merged
 * catalog and its version.
 */
export function validateCatalog(files: readonly CatalogInputFile[]): CatalogValidation {
  const sorted = [...files].sort((a, b) => compareFileNames(a.file, b.file));
  const checks = sorted.map((f) => ({ file: f.file, check: checkCatalogFile(f.file, f.content) }));
  const problems = checks.flatMap((c) => c.check.problems);

  const invalidIds = Object.fromEntries(
    LIST_SECTIONS.map((s) => [s, new Set(checks.flatMap((c) => [...c.check.sources.invalidIds[s]]))]),
  ) as Record<ListSection, Set<string>>;
  const sources: CatalogSources = {
    sponsors: checks.flatMap((c) => c.check.sources.sponsors),
    apps: checks.flatMap((c) => c.check.sources.apps),
    sponsorships: checks.flatMap((c) => c.check.sources.sponsorships),
    packs: checks.flatMap((c) => c.check.sources.packs),
    plans: checks.flatMap((c) => c.check.sources.plans),
    overage: pickSingle('overage', checks.map((c) => ({ file: c.file, part: c.check.overage })), problems),
    billing: pickSingle('billing', checks.map((c) => ({ file: c.file, part: c.check.billing })), problems),
    invalidIds,
  };
  problems.push(...checkCatalogRules(sources));

  if (problems.length > 0 || !sources.overage || !sources.billing) {
    // Grouped by file for the reader; the sort is stable, so each file keeps schema-then-rules order.
    return { catalog: null, version: null, problems: problems.sort((a, b) => compareFileNames(a.file, b.file)) };
  }
  const catalog: Catalog = deepFreeze({
    sponsors: sources.sponsors.map((e) => e.value),
    apps: sources.apps.map((e) => e.value),
    sponsorships: sources.sponsorships.map((e) => e.value),
    packs: sources.packs.map((e) => e.value),
    plans: sources.plans.map((e) => e.value),
    overage: sources.overage.value,
    billing: sources.billing.value,
  });
  return { catalog, version: catalogVersion(catalog), problems: [] };
}
