/**
 * The admin API calls the simulator needs (DESIGN 5): register a vehicle (its secret is shown once),
 * or, when the VIN exists (409), rotate the secret to get a new one; make sure it is activated early
 * enough for the records it will send (else they are refused as BEFORE_ACTIVATION).
 */
export interface VehicleSpec {
  vin: string;
  iccid: string;
  automaker: string;
  model: string;
  /** RFC 3339 */
  activatedAt: string;
}

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

/** The fields of the replies read here (DESIGN 5): a secret, an activation date, or an error. */
interface ApiBody {
  deviceSecret?: string;
  activatedAt?: string | null;
  error?: unknown;
  text?: string;
}

export interface AdminClient {
  /** Registers or reuses the vehicle; returns its device secret and whether it was created now. */
  enrol(spec: VehicleSpec): Promise<{ secret: string; created: boolean }>;
}

export function adminClient(baseUrl: string, token: string): AdminClient {
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: ApiBody }> => {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    let parsed: ApiBody = {};
    try {
      const value = JSON.parse(text) as unknown;
      parsed = typeof value === 'object' && value !== null ? (value as ApiBody) : { text };
    } catch {
      parsed = { text }; // not JSON: kept for the error message
    }
    return { status: response.status, body: parsed };
  };
  const fail = (what: string, r: { status: number; body: ApiBody }) =>
    new AdminApiError(r.status, `${what}: HTTP ${r.status} ${r.body.text !== undefined ? String(r.body.text).slice(0, 200) : JSON.stringify(r.body.error ?? r.body)}`);

  return {
    async enrol(spec) {
      const created = await call('POST', '/v1/vehicles', spec);
      if (created.status === 201) return { secret: String(created.body.deviceSecret), created: true };
      if (created.status !== 409) throw fail(`registering ${spec.vin}`, created);
      const rotated = await call('POST', `/v1/vehicles/${spec.vin}/secret`);
      if (rotated.status !== 200) throw fail(`rotating the secret of ${spec.vin}`, rotated);
      const vehicle = await call('GET', `/v1/vehicles/${spec.vin}`);
      if (vehicle.status !== 200) throw fail(`reading ${spec.vin}`, vehicle);
      const activatedAt = vehicle.body.activatedAt ?? null;
      if (activatedAt === null || Date.parse(activatedAt) > Date.parse(spec.activatedAt)) {
        const activated = await call('POST', `/v1/vehicles/${spec.vin}/activate`, { activatedAt: spec.activatedAt });
        if (activated.status !== 200) throw fail(`activating ${spec.vin}`, activated);
      }
      return { secret: String(rotated.body.deviceSecret), created: false };
    },
  };
}

/** Runs `fn` over `items` with at most `concurrency` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
