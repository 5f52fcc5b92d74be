import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import { invalid, notFound } from '../shared/errors.js';
import { generateDeviceSecret, hashDeviceSecret, hashForBrokers } from './device-secret.js';
import type { VehicleRepository, VehicleRow } from './repository.js';
import type { SecretReply } from './schemas.js';

export interface RegisterVehicleInput {
  vin: string;
  iccid: string;
  automaker: string;
  model: string;
  activatedAt?: Date | undefined;
}

export interface VehicleServiceDeps {
  vehicles: VehicleRepository;
  catalog(): Catalog;
  clock: Clock;
  /** Ends the device's live MQTT session (embedded broker); a no-op with an external broker. */
  disconnectDevice(vin: string): void;
  forgetVerifiedSecret(vin: string): void;
  /** After a registration commits: e.g. publish the retained rules with an external broker (DESIGN 3.4). */
  onRegistered?(vin: string): void;
}

/** An automaker a vehicle may belong to: a catalog sponsor of kind automaker with an overage entry (DESIGN 5). */
export function isBillableAutomaker(catalog: Catalog, id: string): boolean {
  const sponsor = catalog.sponsors.find((s) => s.id === id);
  if (!sponsor || sponsor.kind !== 'automaker') return false;
  return Array.isArray(catalog.overage) ? catalog.overage.some((o) => o.automaker === id) : true;
}

const hashSecret = async (secret: string) => ({ stored: await hashDeviceSecret(secret), broker: await hashForBrokers(secret) });

export function createVehicleService(deps: VehicleServiceDeps) {
  const requireVehicle = async (vin: string): Promise<VehicleRow> => {
    const vehicle = await deps.vehicles.find(vin);
    if (!vehicle) throw notFound(`vehicle ${vin}`);
    return vehicle;
  };

  return {
    async register(input: RegisterVehicleInput): Promise<SecretReply> {
      if (!isBillableAutomaker(deps.catalog(), input.automaker)) {
        throw invalid('automaker', `'${input.automaker}' is not an automaker with an overage entry in the catalog`);
      }
      const deviceSecret = generateDeviceSecret();
      const stored = await hashSecret(deviceSecret);
      await deps.vehicles.insert(
        { vin: input.vin, iccid: input.iccid, automaker: input.automaker, model: input.model, activatedAt: input.activatedAt ?? null },
        stored,
        new Date(deps.clock.now()),
      );
      deps.onRegistered?.(input.vin);
      return { vin: input.vin, deviceSecret };
    },

    get: requireVehicle,

    async activate(vin: string, activatedAt: Date): Promise<VehicleRow> {
      const vehicle = await deps.vehicles.setActivatedAt(vin, activatedAt);
      if (!vehicle) throw notFound(`vehicle ${vin}`);
      return vehicle;
    },

    /** New secret, shown once; the old one stops working at once and the live session is closed. */
    async rotateSecret(vin: string): Promise<SecretReply> {
      const deviceSecret = generateDeviceSecret();
      const stored = await hashSecret(deviceSecret);
      if (!(await deps.vehicles.replaceSecret(vin, stored, new Date(deps.clock.now())))) throw notFound(`vehicle ${vin}`);
      deps.forgetVerifiedSecret(vin);
      deps.disconnectDevice(vin);
      return { vin, deviceSecret };
    },
  };
}

export type VehicleService = ReturnType<typeof createVehicleService>;
