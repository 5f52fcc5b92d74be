import { luhnCheckDigit, vinCheckDigit } from '../../src/shared/identifiers.js';

/** A valid VIN (ISO 3779 check digit) for serial n, e.g. makeVin(1) → `LSVAU2180N2000001` with its check digit. */
export function makeVin(serial: number, prefix = 'LSVAU218'): string {
  const tail = `N2${String(serial).padStart(6, '0')}`;
  const draft = `${prefix}0${tail}`;
  return `${prefix}${vinCheckDigit(draft)}${tail}`;
}

/** A valid all-digit ICCID (Luhn) for serial n. */
export function makeIccid(serial: number): string {
  const body = `8986001${String(serial).padStart(12, '0')}`;
  return body + luhnCheckDigit(body);
}
