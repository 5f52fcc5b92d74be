import { luhnCheckDigit, vinCheckDigit } from '../../src/shared/identifiers.js';

/** Characters a VIN may hold (ISO 3779: no I, O, Q). */
const VIN_CHARS = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
export const MAX_FLEET_SIZE = 999_999;

/**
 * Vehicle n (0-based) of fleet `fleetId`: a valid VIN (check digit in position 9, GB 16735) and a valid
 * ICCID (Luhn), the same on every run, so a second run reuses the vehicles it registered. Two fleets with
 * different ids never share a VIN or an ICCID.
 */
export function fleetVin(fleetId: string, index: number): string {
  checkFleet(fleetId, index);
  // LFV FLT <fleet> 1 | check | R (model year 2024) | S (plant) | 6-digit serial
  const draft = `LFVFLT${fleetId}10RS${String(index + 1).padStart(6, '0')}`;
  return `${draft.slice(0, 8)}${vinCheckDigit(draft)}${draft.slice(9)}`;
}

export function fleetIccid(fleetId: string, index: number): string {
  checkFleet(fleetId, index);
  // 89 (telecom) 86 (China) 07 (issuer) <fleet as 2 digits> <11-digit serial> <Luhn>
  const body = `898607${String(VIN_CHARS.indexOf(fleetId)).padStart(2, '0')}${String(index + 1).padStart(11, '0')}`;
  return body + luhnCheckDigit(body);
}

function checkFleet(fleetId: string, index: number): void {
  if (fleetId.length !== 1 || !VIN_CHARS.includes(fleetId)) throw new RangeError(`fleet id must be one VIN character (A-Z without I, O, Q, or 0-9), got ${JSON.stringify(fleetId)}`);
  if (!Number.isInteger(index) || index < 0 || index >= MAX_FLEET_SIZE) throw new RangeError(`vehicle index must be 0..${MAX_FLEET_SIZE - 1}, got ${index}`);
}
