import { createRng, type Rng } from '../fleet/prng.js';
import { luhnCheckDigit, residentIdCheckChar } from '../../src/shared/identifiers.js';

/**
 * The online store (DESIGN 6), played against the API: it stocks cards, sells them with store order ids,
 * registers the buyers' real names (sometimes failing the liveness check first), activates, recharges and
 * refunds some, and resends some requests the way a store's retrying webhook would (the same external order
 * id and body: the API must answer with the same order). Reproducible from its seed. The people are
 * synthetic: names from a list, ID numbers with valid GB 11643 check characters, phone numbers in 13x.
 */

export interface StoreOptions {
  baseUrl: string;
  /** a key of the merchant (or the admin token) */
  token: string;
  merchant: string;
  orders: number;
  seed?: string;
  /** stock fresh cards first (default true) */
  importCards?: boolean;
  plan?: string;
  refundRate?: number;
  rechargeRate?: number;
  failLivenessRate?: number;
  duplicateRate?: number;
  concurrency?: number;
  log?: (line: string) => void;
}

export interface StoreReport {
  ordered: number;
  replayed: number;
  verified: number;
  livenessRetries: number;
  activated: number;
  recharged: number;
  refunded: number;
  retriedRequests: number;
  failures: string[];
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '欧阳', '司马'];
const GIVEN = ['伟', '芳', '娜', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋', '艳', '勇', '杰', '娟'];
const AREAS = ['110105', '310115', '440305', '330106', '510107', '420111'];

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

export function syntheticPerson(rng: Rng): { name: string; idNumber: string; phone: string } {
  const year = rng.int(1950, 2004);
  const month = rng.int(1, 12);
  const day = rng.int(1, 28);
  const first17 = `${rng.pick(AREAS)}${year}${pad(month, 2)}${pad(day, 2)}${pad(rng.int(0, 999), 3)}`;
  return { name: rng.pick(SURNAMES) + rng.pick(GIVEN), idNumber: first17 + residentIdCheckChar(first17), phone: `13${rng.int(0, 9)}${pad(rng.int(0, 99_999_999), 8)}` };
}

export async function runStore(options: StoreOptions): Promise<StoreReport> {
  const seed = options.seed ?? String(Date.now());
  const rng = createRng(seed);
  const log = options.log ?? (() => undefined);
  const plan = options.plan ?? 'iot-12m';
  const base = options.baseUrl.replace(/\/+$/, '');
  const report: StoreReport = { ordered: 0, replayed: 0, verified: 0, livenessRetries: 0, activated: 0, recharged: 0, refunded: 0, retriedRequests: 0, failures: [] };
  const tag = seed.replace(/[^A-Za-z0-9]/g, '').slice(-10) || 'store';

  /** A request with the store's retry policy: 5xx and timeouts are retried with the same body. */
  // Answers are read loosely: this is a client exercising the API, and the report notes any surprise.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${options.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const parsed = await response.json().catch(() => null);
      if ((response.status >= 500 || response.status === 429) && attempt < 4) {
        report.retriedRequests += 1;
        await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after') ?? 0) * 1000 || 200 * attempt));
        continue;
      }
      return { status: response.status, body: parsed };
    }
  }

  // Cards: a 7-digit issuer prefix of this run, so runs do not collide.
  const issuer = `89860${pad(rng.int(10, 99), 2)}`;
  const stamp = pad(rng.int(0, 9_999), 4);
  const cards = Array.from({ length: options.orders }, (_, i) => {
    const body = `${issuer}${stamp}${pad(i, 8)}`;
    return { iccid: body + luhnCheckDigit(body), imsi: `460${pad(rng.int(0, 99), 2)}${pad(rng.int(0, 9_999_999_999), 10)}`, msisdn: `144${pad(rng.int(0, 9_999_999_999), 10)}` };
  });
  if (options.importCards !== false) {
    const imported = await call('POST', `/v1/merchants/${options.merchant}/sims?partial=true`, { sims: cards });
    if (imported.status !== 201) throw new Error(`import failed: ${imported.status} ${JSON.stringify(imported.body?.error ?? imported.body)}`);
    log(`stocked ${imported.body.imported} cards`);
  }

  async function sell(index: number): Promise<void> {
    const card = cards[index]!;
    const r = rng.fork(`card/${index}`);
    const person = syntheticPerson(r);
    const externalOrderId = `${tag}-${pad(index, 5)}`;
    const request = { merchant: options.merchant, externalOrderId, iccid: card.iccid, plan, buyer: { name: person.name, phone: person.phone } };
    const sold = await call('POST', '/v1/orders', request);
    if (sold.status !== 201) return void report.failures.push(`${externalOrderId}: order ${sold.status} ${sold.body?.error?.code ?? ''}`);
    report.ordered += 1;
    if (r.chance(options.duplicateRate ?? 0.1)) {
      const again = await call('POST', '/v1/orders', request);
      if (again.status === 200 && again.body.id === sold.body.id) report.replayed += 1;
      else report.failures.push(`${externalOrderId}: a resent order was not the same order (${again.status})`);
    }
    const refundRate = options.refundRate ?? 0.1;
    if (r.chance(refundRate / 2)) {
      const refund = await call('POST', `/v1/orders/${externalOrderId}/refund`, { reason: 'buyer cancelled before activation' });
      if (refund.status === 200) report.refunded += 1;
      else report.failures.push(`${externalOrderId}: refund ${refund.status}`);
      return;
    }
    const realName = (token: string) => call('POST', `/v1/sims/${card.iccid}/real-name`, { type: 'individual', name: person.name, idNumber: person.idNumber, livenessToken: token });
    if (r.chance(options.failLivenessRate ?? 0.1)) {
      const failed = await realName(`fail-${externalOrderId}`);
      if (failed.status === 422) report.livenessRetries += 1;
      else report.failures.push(`${externalOrderId}: a failing liveness token answered ${failed.status}`);
    }
    const verified = await realName(`pass-${externalOrderId}`);
    if (verified.status !== 200) return void report.failures.push(`${externalOrderId}: real-name ${verified.status} ${verified.body?.error?.code ?? ''}`);
    report.verified += 1;
    const activated = await call('POST', `/v1/sims/${card.iccid}/activate`, { reason: 'store: paid and verified' });
    if (activated.status !== 200) return void report.failures.push(`${externalOrderId}: activate ${activated.status} ${activated.body?.error?.code ?? ''}`);
    report.activated += 1;
    if (r.chance(options.rechargeRate ?? 0.2)) {
      const recharge = await call('POST', `/v1/sims/${card.iccid}/recharges`, { externalOrderId: `${externalOrderId}-r1`, plan });
      if (recharge.status === 201) report.recharged += 1;
      else report.failures.push(`${externalOrderId}: recharge ${recharge.status}`);
    }
    if (r.chance(refundRate / 2)) {
      const refund = await call('POST', `/v1/orders/${externalOrderId}/refund`, { reason: 'service cancelled' });
      if (refund.status === 200) report.refunded += 1;
      else report.failures.push(`${externalOrderId}: refund ${refund.status}`);
    }
  }

  let next = 0;
  const workers = Array.from({ length: Math.max(1, options.concurrency ?? 4) }, async () => {
    while (next < cards.length) {
      const index = next++;
      await sell(index).catch((error: unknown) => report.failures.push(`card ${index}: ${error instanceof Error ? error.message : String(error)}`));
    }
  });
  await Promise.all(workers);
  log(`sold ${report.ordered}, activated ${report.activated}, recharged ${report.recharged}, refunded ${report.refunded}, failures ${report.failures.length}`);
  return report;
}
