import type { Catalog } from './schema.js';

/**
 * What the stored data says about the catalog ids (DESIGN 4): asked of the tables' owners by the
 * composition root (src/service.ts), so this check names no table of theirs.
 */
export interface CatalogReferences {
  /** the catalog in use before this start (the version used last), or null on a new database */
  previous(): Promise<Catalog | null>;
  /** does the ledger hold any usage record? */
  ledgerHasRecords(): Promise<boolean>;
  /** a sponsor in the rollups, on an invoice, or as a vehicle's automaker */
  sponsorReferenced(id: string): Promise<boolean>;
  /** an app in the rollups or in a vehicle's control state */
  appReferenced(id: string): Promise<boolean>;
  /** a sponsorship whose cap a vehicle has used */
  sponsorshipReferenced(id: string): Promise<boolean>;
  /** a pack product a vehicle holds */
  packReferenced(id: string): Promise<boolean>;
}

/**
 * DESIGN 4: startup refuses a catalog that removes a sponsor, app, sponsorship or pack the ledger
 * references (end a sponsorship with `validUntil` instead), or that changes `billing.timezone` or
 * `billing.currency` once the ledger has rows. Compared with the catalog version used last; references
 * are looked up in indexed tables (rollups, invoices, vehicles, cap counters, packs, controls).
 */
export async function checkCatalogCompatibility(references: CatalogReferences, next: Catalog): Promise<string[]> {
  const previous = await references.previous();
  if (!previous) return [];
  const problems: string[] = [];
  if (await references.ledgerHasRecords()) {
    for (const key of ['timezone', 'currency'] as const) {
      if (previous.billing[key] !== next.billing[key]) {
        problems.push(`billing.${key}: changed from "${previous.billing[key]}" to "${next.billing[key]}" but the ledger already has rows`);
      }
    }
  }
  const removed = <T extends { id: string }>(before: readonly T[], after: readonly T[]) => before.map((x) => x.id).filter((id) => !after.some((y) => y.id === id));
  for (const id of removed(previous.sponsors, next.sponsors)) {
    if (await references.sponsorReferenced(id)) problems.push(`sponsors: "${id}" was removed but the ledger references it`);
  }
  for (const id of removed(previous.apps, next.apps)) {
    if (await references.appReferenced(id)) problems.push(`apps: "${id}" was removed but the ledger references it`);
  }
  for (const id of removed(previous.sponsorships, next.sponsorships)) {
    if (await references.sponsorshipReferenced(id)) problems.push(`sponsorships: "${id}" was removed but the ledger references it (end it with validUntil instead)`);
  }
  for (const id of removed(previous.packs, next.packs)) {
    if (await references.packReferenced(id)) problems.push(`packs: "${id}" was removed but vehicles hold it`);
  }
  return problems;
}
