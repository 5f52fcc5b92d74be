/**
 * The SIM state machine of DESIGN 6, as data and one pure function. No I/O, no clock: the caller passes
 * `nowMs` and the facts a guard needs (is the responsible subject verified, when does service end).
 *
 * | from      | to        | by                                                         |
 * |-----------|-----------|------------------------------------------------------------|
 * | inventory | test      | `POST /v1/sims/{iccid}/test`                               |
 * | test      | inventory | `POST /v1/sims/{iccid}/test/end`                           |
 * | inventory | sold      | an order                                                   |
 * | sold      | inventory | a refund before activation                                 |
 * | sold      | active    | `POST …/activate` — the card's responsible subject verified |
 * | active    | suspended | `POST …/suspend`, or the scheduler when serviceUntil passes |
 * | suspended | active    | `POST …/resume` or a recharge, needs serviceUntil > now    |
 * | any but retired | retired | `POST …/retire`                                       |
 */

export const SIM_STATES = ['inventory', 'test', 'sold', 'active', 'suspended', 'retired'] as const;
export type SimState = (typeof SIM_STATES)[number];

export const SIM_EVENTS = ['startTest', 'endTest', 'order', 'refund', 'activate', 'suspend', 'expire', 'resume', 'recharge', 'retire'] as const;
export type SimEvent = (typeof SIM_EVENTS)[number];

interface Rule {
  from: readonly SimState[];
  to: SimState;
}

export const TRANSITIONS: Readonly<Record<SimEvent, Rule>> = Object.freeze({
  startTest: { from: ['inventory'], to: 'test' },
  endTest: { from: ['test'], to: 'inventory' },
  order: { from: ['inventory'], to: 'sold' },
  refund: { from: ['sold'], to: 'inventory' },
  activate: { from: ['sold'], to: 'active' },
  suspend: { from: ['active'], to: 'suspended' },
  expire: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  recharge: { from: ['suspended'], to: 'active' },
  retire: { from: ['inventory', 'test', 'sold', 'active', 'suspended'], to: 'retired' },
});

export interface TransitionFacts {
  nowMs: number;
  /** serviceUntil as epoch ms; null = no term limit (a card sold without a termed plan) */
  serviceUntilMs: number | null;
  /** the card's responsible subject is verified (the holder, or the automaker for a vehicle card) */
  responsibleSubjectVerified: boolean;
}

export type TransitionDecision =
  | { ok: true; from: SimState; to: SimState }
  | { ok: false; code: 'INVALID_STATE' | 'REALNAME_REQUIRED' | 'SERVICE_EXPIRED' | 'SERVICE_NOT_EXPIRED'; message: string };

const inTerm = (facts: TransitionFacts) => facts.serviceUntilMs === null || facts.serviceUntilMs > facts.nowMs;

/** Decides a transition: the target state, or why not (the message names the current state). */
export function decideTransition(state: SimState, event: SimEvent, facts: TransitionFacts): TransitionDecision {
  const rule = TRANSITIONS[event];
  if (!rule.from.includes(state)) {
    return { ok: false, code: 'INVALID_STATE', message: `the SIM is ${state}; ${describe(event)} needs ${rule.from.join(' or ')}` };
  }
  if (event === 'activate' && !facts.responsibleSubjectVerified) {
    return { ok: false, code: 'REALNAME_REQUIRED', message: `the SIM is ${state}; activation needs its responsible subject verified (POST /v1/sims/{iccid}/real-name)` };
  }
  if ((event === 'resume' || event === 'recharge') && !inTerm(facts)) {
    return { ok: false, code: 'SERVICE_EXPIRED', message: `the SIM is ${state} and its service ended; a recharge must extend serviceUntil past now` };
  }
  if (event === 'expire' && inTerm(facts)) {
    return { ok: false, code: 'SERVICE_NOT_EXPIRED', message: `the SIM is ${state} and serviceUntil has not passed` };
  }
  return { ok: true, from: state, to: rule.to };
}

function describe(event: SimEvent): string {
  switch (event) {
    case 'startTest':
      return 'a test';
    case 'endTest':
      return 'ending a test';
    case 'order':
      return 'an order';
    case 'refund':
      return 'a refund to inventory';
    case 'activate':
      return 'activation';
    case 'suspend':
    case 'expire':
      return 'suspension';
    case 'resume':
      return 'resumption';
    case 'recharge':
      return 'resumption by a recharge';
    case 'retire':
      return 'retirement';
  }
}

/** States in which a card counts toward the per-ID limit (DESIGN 6: `active` or `suspended`). */
export const COUNTED_STATES: readonly SimState[] = ['active', 'suspended'];
/** States in which every blockable app of a vehicle card carries SIM_SUSPENDED (DESIGN 6). */
export const SUSPENDED_STATES: readonly SimState[] = ['suspended', 'retired'];
