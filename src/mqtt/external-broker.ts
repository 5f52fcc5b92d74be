import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { sharedUsageFilter, vinOfUsageTopic } from './topics.js';
import { NO_GATE, type UsageGate, type UsagePublish, type UsageTicket } from './embedded-broker.js';

export interface ExternalBrokerOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  shareGroup: string;
  logger: Logger;
  onUsage(message: UsagePublish): Promise<void>;
  /** Issue 11: a usage message waits for room here before `onUsage`, and its PUBACK with it. */
  gate?: UsageGate;
  /** Called after every (re)connect and subscription: republish retained state (DESIGN 3.3). */
  onConnected(): void;
}

export interface ExternalBroker {
  connected(): boolean;
  publish(topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  close(): Promise<void>;
}

/**
 * External broker mode (DESIGN 2, 5.1 `MQTT_URL`): device authentication and ACLs live in the broker;
 * this worker subscribes to `$share/<group>/tbox/+/usage` and publishes acks, controls and rules.
 * Messages are taken in bulk — mqtt.js PUBACKs on receipt, so many are in flight and batches fill —
 * and safety comes from the end-to-end ack (DESIGN 3.2): an uncommitted record is never acked and the
 * T-Box resends it. Holding each PUBACK until the commit would serialise delivery to one message per batch.
 *
 * Except when ingest is full (issue 11): a message the gate does not admit keeps its PUBACK (mqtt.js sends
 * it when `handleMessage` calls back) until the gate reopens. mqtt.js handles one inbound packet at a time,
 * so nothing behind it is read either: the broker's inflight window for this client fills (Mosquitto's
 * `max_inflight_messages`) and TCP pushes back, and the broker keeps the rest. PINGRESPs wait too, so a
 * hold longer than 1.5 × keepalive (45 s) ends in a reconnect; the held message is then withdrawn, never
 * PUBACKed, and comes again (redelivered by the broker or resent by the T-Box). Acks still go out while
 * the connection is held: the gate counts a message as written once its ack is handed to mqtt.js, not
 * when the broker confirms it (that confirmation is one of the packets held behind).
 */
export async function connectExternalBroker(options: ExternalBrokerOptions): Promise<ExternalBroker> {
  const log = options.logger.child({ component: 'mqtt-external' });
  const clientId = `billing-${options.shareGroup}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 64);
  const client: MqttClient = mqtt.connect(options.url, {
    clientId,
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    clean: true,
    keepalive: 30,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    protocolVersion: 4,
  });
  const filter = sharedUsageFilter(options.shareGroup);

  client.on('connect', () => {
    client.subscribe(filter, { qos: 1 }, (error, granted) => {
      if (error || granted?.[0]?.qos === 128) {
        log.error({ err: error?.message, filter }, 'subscription refused: check the broker ACL for the billing user');
        return;
      }
      log.info({ filter }, 'subscribed to device usage');
      options.onConnected();
    });
  });
  client.on('reconnect', () => log.warn('reconnecting to the broker'));
  client.on('error', (error) => log.warn({ err: error.message }, 'broker connection error'));
  const gate = options.gate ?? NO_GATE;
  // Messages waiting for the gate (one at most: nothing is read behind it), withdrawn when the connection goes.
  const held = new Set<UsageTicket>();
  client.handleMessage = (packet, callback) => {
    // A retained usage message replayed on subscribe was already delivered live (ingest dedups anyway).
    const vin = packet.retain ? null : vinOfUsageTopic(packet.topic);
    if (!vin) return callback();
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const ticket = gate.enter(payload.length, (admitted) => {
      held.delete(admitted);
      options
        .onUsage({ vin, payload, qos: packet.qos, release: () => admitted.release() })
        .catch((error: unknown) => log.warn({ vin, err: error instanceof Error ? error.message : String(error) }, 'usage not acknowledged; the device will resend'));
      callback(); // the PUBACK, and the next packet
    });
    if (!ticket.admitted) held.add(ticket);
  };
  client.on('close', () => {
    // This connection's packet pump is gone with it: a held callback must never run (mqtt.js would queue
    // its PUBACK for the next connection, where the packet id means nothing).
    for (const ticket of held) ticket.release();
    held.clear();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      client.end(true);
      reject(new Error(`cannot connect to ${redact(options.url)}: ${error.message}`));
    };
    client.once('connect', () => {
      client.off('error', onError);
      resolve();
    });
    client.once('error', onError);
  });

  return {
    connected: () => client.connected,
    publish: (topic, payload, { qos, retain }) =>
      new Promise((resolve, reject) => client.publish(topic, payload, { qos, retain }, (error) => (error ? reject(error) : resolve()))),
    close: () => client.endAsync(),
  };
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the broker';
  }
}
