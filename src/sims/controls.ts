import type { ControlChange } from '../controls/repository.js';
import { SUSPENDED_STATES, type SimState } from './state-machine.js';

/**
 * The control reasons a vehicle card imposes on its vehicle (DESIGN 3.3, 6), as a pure function of the
 * card: applying the result is idempotent (a reason already present or absent changes nothing).
 *
 * - `REALNAME_REQUIRED` on `general` and `wifi-hotspot` while the card is in service (sold onwards) and
 *   no vehicle user is verified (MIIT notice 2021-246: until the user registers, only directed,
 *   sponsored services may be used);
 * - `SIM_SUSPENDED` on every blockable app while the card is suspended or retired.
 */
export const REALNAME_APPS: readonly string[] = ['general', 'wifi-hotspot'];

export interface CardFacts {
  state: SimState;
  ownerVerified: boolean;
}

export function cardControlChanges(vin: string, card: CardFacts | null, blockableApps: readonly string[]): ControlChange[] {
  // A vehicle whose card is not (or no longer) ours carries none of these reasons.
  const inService = card !== null && card.state !== 'inventory' && card.state !== 'test';
  const realnameRequired = inService && !card.ownerVerified;
  const suspended = card !== null && SUSPENDED_STATES.includes(card.state);
  return [
    ...REALNAME_APPS.filter((app) => blockableApps.includes(app)).map((app) => ({ vin, app, reason: 'REALNAME_REQUIRED' as const, present: realnameRequired })),
    ...blockableApps.map((app) => ({ vin, app, reason: 'SIM_SUSPENDED' as const, present: suspended })),
  ];
}
