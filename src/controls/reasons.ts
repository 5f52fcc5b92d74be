/** DESIGN 3.3: the reasons an app may be blocked for a vehicle. `action` is `block` iff the set is non-empty. */
export type ControlReason = 'FUNDS_EXHAUSTED' | 'REALNAME_REQUIRED' | 'SIM_SUSPENDED';

const ORDER: readonly ControlReason[] = ['FUNDS_EXHAUSTED', 'REALNAME_REQUIRED', 'SIM_SUSPENDED'];

/** Adds or removes one reason; returns null when the set does not change (no new rev, nothing to publish). */
export function withReason(current: readonly ControlReason[], reason: ControlReason, present: boolean): ControlReason[] | null {
  const has = current.includes(reason);
  if (has === present) return null;
  const next = present ? [...current, reason] : current.filter((r) => r !== reason);
  return ORDER.filter((r) => next.includes(r));
}

export interface ControlMessage {
  v: 1;
  app: string;
  action: 'block' | 'allow';
  reasons: ControlReason[];
  rev: number;
  at: string;
}

export function controlMessage(app: string, reasons: readonly ControlReason[], rev: number, at: string): ControlMessage {
  return { v: 1, app, action: reasons.length > 0 ? 'block' : 'allow', reasons: [...reasons], rev, at };
}
