import { createHash } from 'node:crypto';
import type { Catalog } from './schema.js';

/**
 * Canonical JSON (DESIGN 4: the catalog version is the SHA-256 of it): object keys sorted by UTF-16
 * code unit at every depth, keys whose value is `undefined` omitted, no whitespace, array order kept.
 * Only JSON values are accepted; anything else (bigint, NaN, functions, class instances) throws,
 * so two equal catalogs can never hash differently by accident.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && isPlainObject(value)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** SHA-256 hex of the canonical JSON of the merged catalog, defaults applied. */
export function catalogVersion(catalog: Catalog): string {
  return createHash('sha256').update(canonicalJson(catalog), 'utf8').digest('hex');
}
