import { roundHalfUp, toMinor } from '../shared/money.js';

/**
 * Pack breakage (issue 13), pure: per pack product for a month, what was sold, and of the packs that expired
 * in the month, what was used and what expired unused, with the revenue of the unused part pro rata of the
 * tax-inclusive price: Σ price × unused / size over the product's packs, summed exactly (fractions) and
 * rounded half up to the cent once per product.
 */

export interface PackProduct {
  id: string;
  /** tax-inclusive, decimal string */
  price: string;
  sizeBytes: bigint;
}

export interface PackGroupFigures {
  pack: string;
  sizeBytes: bigint;
  packs: number;
  bytes: bigint;
  unusedBytes: bigint;
}

export interface BreakageFigures {
  pack: string;
  priceMinor: bigint;
  sizeBytes: bigint;
  sold: { packs: number; bytes: bigint; revenueMinor: bigint };
  expired: { packs: number; bytesSold: bigint; bytesUsed: bigint; bytesUnused: bigint; unusedRevenueMinor: bigint };
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

/** Σ priceMinor × unused_g / size_g over the groups, exactly, then rounded half up to a minor unit. */
export function unusedRevenueMinor(priceMinor: bigint, groups: ReadonlyArray<{ sizeBytes: bigint; unusedBytes: bigint }>): bigint {
  let numerator = 0n;
  let denominator = 1n;
  for (const g of groups) {
    // numerator/denominator + priceMinor·unused/size
    numerator = numerator * g.sizeBytes + priceMinor * g.unusedBytes * denominator;
    denominator *= g.sizeBytes;
    const common = gcd(numerator, denominator);
    if (common > 1n) {
      numerator /= common;
      denominator /= common;
    }
  }
  return roundHalfUp(numerator, denominator);
}

export function computeBreakage(products: readonly PackProduct[], sold: readonly PackGroupFigures[], expired: readonly PackGroupFigures[]): BreakageFigures[] {
  const ids = [...new Set([...sold.map((g) => g.pack), ...expired.map((g) => g.pack)])].sort();
  return ids.map((id) => {
    const product = products.find((p) => p.id === id);
    const priceMinor = product ? toMinor(product.price) : 0n;
    const soldGroups = sold.filter((g) => g.pack === id);
    const expiredGroups = expired.filter((g) => g.pack === id);
    const sum = (gs: readonly PackGroupFigures[], f: (g: PackGroupFigures) => bigint) => gs.reduce((a, g) => a + f(g), 0n);
    const soldPacks = soldGroups.reduce((a, g) => a + g.packs, 0);
    const expiredBytes = sum(expiredGroups, (g) => g.bytes);
    const unused = sum(expiredGroups, (g) => g.unusedBytes);
    return {
      pack: id,
      priceMinor,
      sizeBytes: product?.sizeBytes ?? 0n,
      sold: { packs: soldPacks, bytes: sum(soldGroups, (g) => g.bytes), revenueMinor: priceMinor * BigInt(soldPacks) },
      expired: { packs: expiredGroups.reduce((a, g) => a + g.packs, 0), bytesSold: expiredBytes, bytesUsed: expiredBytes - unused, bytesUnused: unused, unusedRevenueMinor: unusedRevenueMinor(priceMinor, expiredGroups) },
    };
  });
}

