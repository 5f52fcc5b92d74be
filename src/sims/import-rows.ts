import { checkIccid } from '../shared/identifiers.js';
import type { RowProblem } from './schemas.js';

/**
 * Validation of an inventory import (DESIGN 6), pure: every problem of every row is reported with its
 * JSON path (`sims.3.iccid`), so a merchant fixes a file in one round trip. A row is one SIM:
 * - `iccid`: ITU-T E.118, 19–20 characters starting `89`, Luhn when all digits;
 * - `imsi`: ITU-T E.212, 15 digits (MCC 3 + MNC 2–3 + MSIN);
 * - `msisdn`: ITU-T E.164 without the `+` (8–15 digits; mainland IoT numbers have 13, mobiles 11).
 * Duplicates inside the file are problems of the later row; clashes with cards already imported are found
 * by the repository.
 */

export interface ImportRow {
  index: number;
  iccid: string;
  imsi: string;
  msisdn: string;
}

const IMSI = /^[0-9]{15}$/;
const MSISDN = /^\+?[0-9]{8,15}$/;

function text(value: unknown): string | null {
  return typeof value === 'string' ? value.trim() : null;
}

export function validateImportRows(rows: readonly unknown[]): { valid: ImportRow[]; problems: RowProblem[] } {
  const valid: ImportRow[] = [];
  const problems: RowProblem[] = [];
  const seen = { iccid: new Map<string, number>(), imsi: new Map<string, number>(), msisdn: new Map<string, number>() };
  rows.forEach((raw, index) => {
    const at = (field: string, reason: string) => problems.push({ index, field: `sims.${index}${field ? `.${field}` : ''}`, reason, code: 'INVALID_INPUT' });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      at('', 'must be an object {iccid, imsi, msisdn}');
      return;
    }
    const before = problems.length;
    const iccid = text(Reflect.get(raw, 'iccid'));
    const imsi = text(Reflect.get(raw, 'imsi'));
    const msisdnRaw = text(Reflect.get(raw, 'msisdn'));
    if (iccid === null) at('iccid', 'is required (a string)');
    else {
      const check = checkIccid(iccid);
      if (!check.ok) at('iccid', check.reason);
    }
    if (imsi === null) at('imsi', 'is required (a string)');
    else if (!IMSI.test(imsi)) at('imsi', `must be 15 digits, got ${JSON.stringify(imsi.slice(0, 20))}`);
    if (msisdnRaw === null) at('msisdn', 'is required (a string)');
    else if (!MSISDN.test(msisdnRaw)) at('msisdn', 'must be 8 to 15 digits (E.164, an optional leading +)');
    // Each null above added a problem; the explicit checks keep the compiler and the reader sure of it.
    if (problems.length > before || iccid === null || imsi === null || msisdnRaw === null) return;
    const values = { iccid, imsi, msisdn: msisdnRaw.replace(/^\+/, '') };
    let duplicate = false;
    for (const field of ['iccid', 'imsi', 'msisdn'] as const) {
      const first = seen[field].get(values[field]);
      if (first !== undefined) {
        at(field, `duplicates row ${first} of this file`);
        duplicate = true;
      }
    }
    if (duplicate) return;
    for (const field of ['iccid', 'imsi', 'msisdn'] as const) seen[field].set(values[field], index);
    valid.push({ index, ...values });
  });
  return { valid, problems };
}
