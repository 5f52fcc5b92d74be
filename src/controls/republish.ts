import type { Pool } from '../shared/db/pool.js';
import { controlTopic, rulesTopic } from '../mqtt/topics.js';
import { vinPage } from '../vehicles/fleet-repository.js';
import { controlMessage, type ControlReason } from './reasons.js';
import type { Publisher } from './outbox-publisher.js';

const PAGE = 1000;

/**
 * DESIGN 3.3: every non-default control state is republished (retained) at startup and on every broker
 * (re)connect, so a broker that lost its retained store converges. Keyset pages keep memory flat.
 */
export async function republishControls(pool: Pool, publisher: Publisher, formatAt: (ms: number) => string): Promise<number> {
  let after = { vin: '', app: '' };
  let sent = 0;
  for (;;) {
    const { rows } = await pool.query<{ vin: string; app: string; reasons: ControlReason[]; rev: number; changed_at: Date }>(
      `SELECT vin, app, reasons, rev, changed_at FROM control_states
        WHERE cardinality(reasons) > 0 AND (vin, app) > ($1, $2) ORDER BY vin, app LIMIT ${PAGE}`,
      [after.vin, after.app],
    );
    for (const row of rows) {
      await publisher.publish(controlTopic(row.vin, row.app), JSON.stringify(controlMessage(row.app, row.reasons, row.rev, formatAt(row.changed_at.getTime()))), { qos: 1, retain: true });
    }
    sent += rows.length;
    if (rows.length < PAGE) return sent;
    after = { vin: rows[rows.length - 1]!.vin, app: rows[rows.length - 1]!.app };
  }
}

/**
 * DESIGN 3.4: the rules message is retained per vehicle and republished when the catalog changes. The
 * version last published is kept in PostgreSQL, so only a new catalog republishes the whole fleet.
 */
export async function publishRulesIfChanged(pool: Pool, publisher: Publisher, version: string, payload: string, now: Date): Promise<number> {
  const { rows } = await pool.query<{ value: string }>("SELECT value FROM service_state WHERE key = 'rules-version'");
  if (rows[0]?.value === version) return 0;
  let after = '';
  let sent = 0;
  for (;;) {
    const vins = await vinPage(pool, after, PAGE);
    for (const vin of vins) await publisher.publish(rulesTopic(vin), payload, { qos: 1, retain: true });
    sent += vins.length;
    if (vins.length < PAGE) break;
    after = vins[vins.length - 1] ?? after;
  }
  await pool.query(
    "INSERT INTO service_state (key, value, updated_at) VALUES ('rules-version', $1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
    [version, now],
  );
  return sent;
}
