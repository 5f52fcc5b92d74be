import type { Principal } from '../api/auth.js';
import { forbidden, notFound, unauthorized } from '../shared/errors.js';
import type { SimRow } from './repository.js';

/** Who acts (for the audit trail) and what they may see: a merchant key sees only its own cards. */
export interface Caller {
  actor: string;
  /** null: the admin, every merchant */
  merchantId: string | null;
}

export function callerOf(principal: Principal | null): Caller {
  if (!principal) throw unauthorized();
  if (principal.kind === 'admin') return { actor: 'admin', merchantId: null };
  if (principal.kind === 'merchant') return { actor: `merchant:${principal.merchantId}/key:${principal.keyId}`, merchantId: principal.merchantId };
  throw forbidden();
}

/** DESIGN 5: a card of another merchant is 404, exactly like a card that does not exist. */
export function requireInScope(sim: SimRow | null, caller: Caller, iccid: string): SimRow {
  if (!sim || (caller.merchantId !== null && sim.merchant_id !== caller.merchantId)) throw notFound(`SIM ${iccid}`);
  return sim;
}
