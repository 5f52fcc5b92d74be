import { parseCidr } from '../shared/ip.js';
import { parseHostPattern } from './host-pattern.js';
import { formatPath, type CatalogProblem } from './problems.js';
import {
  BUILT_IN_APPS,
  type App,
  type Billing,
  type ListSection,
  type Overage,
  type Pack,
  type Plan,
  type Sponsor,
  type Sponsorship,
} from './schema.js';

/**
 * Rules of DESIGN 4 that need the merged catalog ("Invalid catalogs also include …"): duplicate ids,
 * built-in apps redefined, unknown references, overage payers, and matchers claimed by two apps.
 * Every rule reports at the entry that breaks it, in the file that holds it.
 */

/** A valid entry and where it was written. */
export interface Located<T> {
  file: string;
  /** index in its section of `file` (for `overage` and `billing`: unused, 0) */
  index: number;
  value: T;
}

export interface CatalogSources {
  sponsors: Located<Sponsor>[];
  apps: Located<App>[];
  sponsorships: Located<Sponsorship>[];
  packs: Located<Pack>[];
  plans: Located<Plan>[];
  /** the one valid `overage`, when exactly one file has it */
  overage: Located<Overage> | undefined;
  billing: Located<Billing> | undefined;
  /**
   * ids of entries that failed their schema: already reported, so references to them are not.
   * `ANY_ID` in a set: a whole section was unreadable, so no reference of that kind is reported.
   */
  invalidIds: Record<ListSection, Set<string>>;
}

/** Not a valid id (ids match [a-z0-9-]), so it cannot collide with one. */
export const ANY_ID = '*';

function problemAt(entry: Located<unknown>, section: string, rest: PropertyKey[], message: string): CatalogProblem {
  const path = section === 'overage' ? [section, ...rest] : [section, entry.index, ...rest];
  return { file: entry.file, path: formatPath(path), message };
}

function where(entry: Located<unknown>, section: string): string {
  return `${entry.file} ${section}[${entry.index}]`;
}

const SINGULAR: Record<ListSection, string> = {
  sponsors: 'sponsor',
  apps: 'app',
  sponsorships: 'sponsorship',
  packs: 'pack',
  plans: 'plan',
};

function checkDuplicateIds(s: CatalogSources): CatalogProblem[] {
  const problems: CatalogProblem[] = [];
  const sections: Array<[ListSection, Located<{ id: string }>[]]> = [
    ['sponsors', s.sponsors],
    ['apps', s.apps],
    ['sponsorships', s.sponsorships],
    ['packs', s.packs],
    ['plans', s.plans],
  ];
  for (const [section, entries] of sections) {
    const first = new Map<string, Located<{ id: string }>>();
    for (const entry of entries) {
      const earlier = first.get(entry.value.id);
      if (earlier) {
        const message = `duplicate ${SINGULAR[section]} id "${entry.value.id}" (first in ${where(earlier, section)})`;
        problems.push(problemAt(entry, section, ['id'], message));
      } else first.set(entry.value.id, entry);
    }
  }
  // Allocation uses these as payers for pack (the owner) and SIM test-state bytes (nobody).
  for (const sponsor of s.sponsors) {
    if (RESERVED_PAYERS.includes(sponsor.value.id)) {
      problems.push(problemAt(sponsor, 'sponsors', ['id'], `"${sponsor.value.id}" is reserved and may not be a sponsor id`));
    }
  }
  for (const app of s.apps) {
    if (BUILT_IN_APPS.includes(app.value.id)) {
      problems.push(problemAt(app, 'apps', ['id'], `"${app.value.id}" is a built-in app and may not be redefined`));
    }
  }
  return problems;
}

const RESERVED_PAYERS: readonly string[] = ['owner', 'none', 'other'];

/** Lookups over the merged catalog; an id that failed its schema counts as known. */
class Index {
  private readonly sponsors = new Map<string, Sponsor>();
  private readonly apps: Set<string>;
  private readonly packs: Set<string>;
  private readonly s: CatalogSources;

  constructor(s: CatalogSources) {
    this.s = s;
    for (const { value } of s.sponsors) if (!this.sponsors.has(value.id)) this.sponsors.set(value.id, value);
    this.apps = new Set([...BUILT_IN_APPS, ...s.apps.map((a) => a.value.id)]);
    this.packs = new Set(s.packs.map((p) => p.value.id));
  }

  /** True when `id` belongs to an entry (or a section) that failed its schema. */
  isInvalid(section: ListSection, id: string): boolean {
    const ids = this.s.invalidIds[section];
    return ids.has(id) || ids.has(ANY_ID);
  }

  sponsorProblem(id: string): string | null {
    return this.sponsors.has(id) || this.isInvalid('sponsors', id) ? null : `unknown sponsor "${id}"`;
  }

  /** `role` names the reference in the message: "automaker" or "overage payer". */
  automakerProblem(id: string, role: string): string | null {
    const sponsor = this.sponsors.get(id);
    if (!sponsor) return this.isInvalid('sponsors', id) ? null : `unknown ${role} "${id}": no such sponsor`;
    return sponsor.kind === 'automaker' ? null : `${role} "${id}" must be an automaker, but is a ${sponsor.kind}`;
  }

  appProblem(id: string): string | null {
    return this.apps.has(id) || this.isInvalid('apps', id) ? null : `unknown app "${id}"`;
  }

  packProblem(id: string): string | null {
    return this.packs.has(id) || this.isInvalid('packs', id) ? null : `unknown pack "${id}"`;
  }

  automakers(): Sponsor[] {
    return [...this.sponsors.values()].filter((sponsor) => sponsor.kind === 'automaker');
  }
}

function checkReferences(s: CatalogSources, index: Index): CatalogProblem[] {
  const problems: CatalogProblem[] = [];
  const report = (entry: Located<unknown>, section: string, rest: PropertyKey[], message: string | null) => {
    if (message !== null) problems.push(problemAt(entry, section, rest, message));
  };
  for (const entry of s.sponsorships) {
    const { sponsor, app, vehicles } = entry.value;
    report(entry, 'sponsorships', ['sponsor'], index.sponsorProblem(sponsor));
    report(entry, 'sponsorships', ['app'], index.appProblem(app));
    report(entry, 'sponsorships', ['vehicles', 'automaker'], index.automakerProblem(vehicles.automaker, 'automaker'));
  }
  for (const entry of s.packs) {
    entry.value.apps.forEach((app, i) => {
      if (app !== '*') report(entry, 'packs', ['apps', i], index.appProblem(app));
    });
  }
  for (const entry of s.plans) {
    const { pack, monthlyPack } = entry.value;
    if (pack !== undefined) report(entry, 'plans', ['pack'], index.packProblem(pack));
    if (monthlyPack !== undefined) report(entry, 'plans', ['monthlyPack'], index.packProblem(monthlyPack));
  }
  return problems;
}

/** DESIGN 4: overage is paid by an automaker; the list form must name every automaker. */
function checkOverage(s: CatalogSources, index: Index): CatalogProblem[] {
  const overage = s.overage;
  if (!overage) return [];
  const problems: CatalogProblem[] = [];
  const report = (rest: PropertyKey[], message: string | null) => {
    if (message !== null) problems.push(problemAt(overage, 'overage', rest, message));
  };
  if (!Array.isArray(overage.value)) {
    const { payer } = overage.value;
    if (payer !== undefined) report(['payer'], index.automakerProblem(payer, 'overage payer'));
    return problems;
  }
  const seen = new Map<string, number>();
  overage.value.forEach((entry, i) => {
    report([i, 'automaker'], index.automakerProblem(entry.automaker, 'automaker'));
    if (entry.payer !== undefined) report([i, 'payer'], index.automakerProblem(entry.payer, 'overage payer'));
    const earlier = seen.get(entry.automaker);
    if (earlier === undefined) seen.set(entry.automaker, i);
    else report([i, 'automaker'], `duplicate entry for "${entry.automaker}" (first at overage[${earlier}])`);
  });
  for (const automaker of index.automakers()) {
    if (!seen.has(automaker.id)) {
      report([], `automaker "${automaker.id}" has no overage entry`);
    }
  }
  return problems;
}

interface Claim {
  app: Located<App>;
  path: PropertyKey[];
  shown: string;
}

/** Two apps may share a matcher only when both list ports and no port is in both (DESIGN 4). */
function appsConflict(a: App, b: App): boolean {
  if (!a.ports || !b.ports) return true;
  const ports = new Set(a.ports);
  return b.ports.some((port) => ports.has(port));
}

function checkMatcherConflicts(s: CatalogSources): CatalogProblem[] {
  const claims = new Map<string, Claim[]>();
  const claim = (key: string, value: Claim) => {
    const list = claims.get(key);
    if (list) list.push(value);
    else claims.set(key, [value]);
  };
  for (const app of s.apps) {
    app.value.hosts.forEach((pattern, i) => {
      const parsed = parseHostPattern(pattern);
      if ('error' in parsed) return; // reported by the schema
      const what = parsed.kind === 'exact' ? 'host' : 'suffix';
      const shown = parsed.kind === 'exact' ? parsed.host : `*.${parsed.host}`;
      claim(`${what} ${parsed.host}`, { app, path: ['hosts', i], shown: `${what} "${shown}"` });
    });
    app.value.cidrs.forEach((text, i) => {
      const parsed = parseCidr(text);
      if (typeof parsed === 'string') return; // reported by the schema
      claim(`cidr ${parsed.canonical}`, { app, path: ['cidrs', i], shown: `CIDR "${parsed.canonical}"` });
    });
    app.value.packages.forEach((name, i) => {
      claim(`package ${name}`, { app, path: ['packages', i], shown: `package "${name}"` });
    });
  }
  const problems: CatalogProblem[] = [];
  for (const list of claims.values()) {
    list.forEach((later, i) => {
      const earlier = list
        .slice(0, i)
        .find((c) => c.app !== later.app && appsConflict(c.app.value, later.app.value));
      if (!earlier) return;
      const message =
        `${later.shown} is also in app "${earlier.app.value.id}" (${earlier.app.file} ` +
        `${formatPath(['apps', earlier.app.index, ...earlier.path])}); apps may share it only with disjoint ports`;
      problems.push(problemAt(later.app, 'apps', later.path, message));
    });
  }
  return problems;
}

export function checkCatalogRules(sources: CatalogSources): CatalogProblem[] {
  const index = new Index(sources);
  return [
    ...checkDuplicateIds(sources),
    ...checkReferences(sources, index),
    ...checkOverage(sources, index),
    ...checkMatcherConflicts(sources),
  ];
}
