import { startRealNameSimulator, type RealNameSimulator } from '../../simulators/realname/simulator.js';
import { startTaxSimulator, type TaxSimulator } from '../../simulators/einvoice/simulator.js';
import { luhnCheckDigit, residentIdCheckChar, usccCheckChar } from '../../src/shared/identifiers.js';
import type { Clock } from '../../src/shared/clock.js';
import { startTestService, TEST_PROVIDER_TOKEN, type TestService } from '../helpers/service.js';

/**
 * Shared pieces of the SIM lifecycle tests: the service with both provider simulators on free loopback
 * ports (as separate HTTP servers, like production), merchants with keys, and valid identifiers.
 */

interface Ctx {
  teardown(fn: () => unknown): void;
}

export interface SimStack {
  svc: TestService;
  realName: RealNameSimulator;
  tax: TaxSimulator;
}

export async function startSimStack(t: Ctx, options: { clock?: Clock; slowMs?: number; env?: Record<string, string> } = {}): Promise<SimStack> {
  // Both simulators require the service's bearer token, as real providers do.
  const realName = await startRealNameSimulator({ slowMs: options.slowMs ?? 4_000, token: TEST_PROVIDER_TOKEN });
  t.teardown(() => realName.close());
  const tax = await startTaxSimulator({ slowMs: options.slowMs ?? 4_000, token: TEST_PROVIDER_TOKEN });
  t.teardown(() => tax.close());
  const svc = await startTestService(t, { REALNAME_URL: realName.url, EINVOICE_URL: tax.url, ...options.env }, options.clock);
  // Merchant keys are rate-limited (DESIGN 5: 429 with Retry-After); these tests are a fast client, so wait as told.
  const request = svc.request;
  svc.request = async (method, url, requestOptions) => {
    for (;;) {
      const response = await request(method, url, requestOptions);
      if (response.status !== 429) return response;
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers['retry-after'] ?? 1) * 1000));
    }
  };
  return { svc, realName, tax };
}

/** A valid GB 11643 number: area 110105 (Beijing Chaoyang), a birth date, a sequence, its check character. */
export function residentId(serial: number, birth = '19900307', area = '110105'): string {
  const first17 = `${area}${birth}${String(serial % 1000).padStart(3, '0')}`;
  return first17 + residentIdCheckChar(first17);
}

/** A valid GB 32100 credit code for serial n (registration authority 9, type 1, Shanghai 310000). */
export function uscc(serial: number): string {
  const first17 = `91310000MA${String(serial).padStart(7, '0')}`;
  return first17 + usccCheckChar(first17);
}

/** A valid all-digit ICCID (Luhn) in a range of its own (test/helpers/fixtures uses 8986001…). */
export function simIccid(serial: number, issuer = '8986061'): string {
  const body = `${issuer}${String(serial).padStart(12, '0')}`;
  return body + luhnCheckDigit(body);
}

export function simRow(serial: number, issuer = '8986061') {
  return { iccid: simIccid(serial, issuer), imsi: `460${issuer.slice(-2)}${String(serial).padStart(10, '0')}`, msisdn: `14${issuer.slice(-2)}${String(serial).padStart(9, '0')}` };
}

/** Creates a merchant and a key for it; returns the key. */
export async function createMerchant(svc: TestService, id: string, serial = 1): Promise<string> {
  const created = await svc.request('POST', '/v1/merchants', { body: { id, name: `Merchant ${id}`, taxId: uscc(serial) } });
  if (created.status !== 201) throw new Error(`merchant: ${created.status} ${JSON.stringify(created.body)}`);
  const key = await svc.request('POST', `/v1/merchants/${id}/keys`);
  if (key.status !== 201) throw new Error(`key: ${key.status} ${JSON.stringify(key.body)}`);
  return key.body.key as string;
}

export async function importSims(svc: TestService, merchant: string, token: string, serials: number[], issuer = '8986061'): Promise<string[]> {
  const sims = serials.map((s) => simRow(s, issuer));
  const response = await svc.request('POST', `/v1/merchants/${merchant}/sims`, { token, body: { sims } });
  if (response.status !== 201) throw new Error(`import: ${response.status} ${JSON.stringify(response.body)}`);
  return sims.map((s) => s.iccid);
}

export async function order(svc: TestService, token: string, body: { merchant: string; externalOrderId: string; iccid: string; plan?: string; buyer?: { name: string; phone: string } }) {
  return svc.request('POST', '/v1/orders', { token, body: { plan: 'iot-12m', buyer: { name: '张小三', phone: '13800000000' }, ...body } });
}

export async function verifyHolder(svc: TestService, token: string, iccid: string, idNumber: string, name = '张小三', livenessToken = 'pass-ok') {
  return svc.request('POST', `/v1/sims/${iccid}/real-name`, { token, body: { type: 'individual', name, idNumber, livenessToken } });
}
