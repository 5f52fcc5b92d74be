import { createApiClient } from '../shared/api/client.js';

/**
 * The admin API calls the simulator needs (DESIGN 5), through the client generated from the service's
 * OpenAPI document (simulators/shared/api): register a vehicle (its secret is shown once), or, when the
 * VIN exists (409), rotate the secret to get a new one; make sure it is activated early enough for the
 * records it will send (else they are refused as BEFORE_ACTIVATION).
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

export interface AdminClient {
  /** Registers or reuses the vehicle; returns its device secret and whether it was created now. */
  enrol(spec: VehicleSpec): Promise<{ secret: string; created: boolean }>;
}

export function adminClient(baseUrl: string, token: string): AdminClient {
  const api = createApiClient(baseUrl, { token });
  const fail = (what: string, response: Response, error: unknown) =>
    new AdminApiError(response.status, `${what}: HTTP ${response.status} ${JSON.stringify(error ?? null).slice(0, 200)}`);

  return {
    async enrol(spec) {
      const created = await api.POST('/v1/vehicles', { body: spec });
      if (created.data) return { secret: created.data.deviceSecret, created: true };
      if (created.response.status !== 409) throw fail(`registering ${spec.vin}`, created.response, created.error);
      const path = { params: { path: { vin: spec.vin } } };
      const rotated = await api.POST('/v1/vehicles/{vin}/secret', path);
      if (!rotated.data) throw fail(`rotating the secret of ${spec.vin}`, rotated.response, rotated.error);
      const vehicle = await api.GET('/v1/vehicles/{vin}', path);
      if (!vehicle.data) throw fail(`reading ${spec.vin}`, vehicle.response, vehicle.error);
      const activatedAt = vehicle.data.activatedAt ?? null;
      if (activatedAt === null || Date.parse(activatedAt) > Date.parse(spec.activatedAt)) {
        const activated = await api.POST('/v1/vehicles/{vin}/activate', { ...path, body: { activatedAt: spec.activatedAt } });
        if (!activated.data) throw fail(`activating ${spec.vin}`, activated.response, activated.error);
      }
      return { secret: rotated.data.deviceSecret, created: false };
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
