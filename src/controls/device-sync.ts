import type { Logger } from 'pino';
import type { Pool } from '../shared/db/pool.js';
import { controlTopic, rulesTopic } from '../mqtt/topics.js';
import { controlMessage, type ControlReason } from './reasons.js';
import type { Publisher } from './outbox-publisher.js';

/**
 * The embedded broker keeps retained messages in memory, so after a restart a device's retained rules
 * (DESIGN 3.4) and non-default controls (DESIGN 3.3) are sent again when it connects — the per-device
 * form of "republished at startup": one indexed read per CONNECT instead of the whole fleet at boot.
 */
export function createDeviceSync(deps: { pool: Pool; publisher: Publisher; rulesPayload: string; logger: Logger; formatAt(ms: number): string }) {
  return async function syncDevice(vin: string): Promise<void> {
    try {
      await deps.publisher.publish(rulesTopic(vin), deps.rulesPayload, { qos: 1, retain: true });
      const { rows } = await deps.pool.query<{ app: string; reasons: ControlReason[]; rev: number; changed_at: Date }>(
        'SELECT app, reasons, rev, changed_at FROM control_states WHERE vin = $1 AND cardinality(reasons) > 0',
        [vin],
      );
      for (const row of rows) {
        const message = controlMessage(row.app, row.reasons, row.rev, deps.formatAt(row.changed_at.getTime()));
        await deps.publisher.publish(controlTopic(vin, row.app), JSON.stringify(message), { qos: 1, retain: true });
      }
    } catch (error) {
      deps.logger.warn({ vin, err: error instanceof Error ? error.message : String(error) }, 'could not send retained rules and controls');
    }
  };
}
