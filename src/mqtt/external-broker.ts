import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { sharedUsageFilter, vinOfUsageTopic } from './topics.js';
import type { UsagePublish } from './embedded-broker.js';

export interface ExternalBrokerOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  shareGroup: string;
  logger: Logger;
  onUsage(message: UsagePublish): Promise<void>;
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
  client.on('message', (topic, payload, packet) => {
    // A retained usage message replayed on subscribe was already delivered live (ingest dedups anyway).
    if (packet.retain) return;
    const vin = vinOfUsageTopic(topic);
    if (!vin) return;
    options.onUsage({ vin, payload, qos: packet.qos }).catch((error: unknown) => log.warn({ vin, err: error instanceof Error ? error.message : String(error) }, 'usage not acknowledged; the device will resend'));
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
