import mqtt, { type MqttClient } from 'mqtt';

/**
 * How a vehicle reaches the platform: a seam, so a unit test can drive a `Vehicle` with a fake link and
 * the simulator and the benchmark use MQTT (DESIGN 3.0). One connection per vehicle; the vehicle owns
 * resending (DESIGN 3.2), so a lost connection is simply replaced by a new one.
 */
export interface DeviceIdentity {
  vin: string;
  secret: string;
}

export interface ConnectionEvents {
  message(topic: string, payload: Buffer): void;
  /** the link is gone (called once, never after `close`) */
  closed(reason: string): void;
}

export interface DeviceConnection {
  /** Fire and forget: the application-level ack (DESIGN 3.2) is the receipt, not the PUBACK. */
  publish(topic: string, payload: string, qos: 0 | 1): void;
  /** A clean DISCONNECT. */
  close(): Promise<void>;
  /** Loses the link without DISCONNECT, as in a tunnel. */
  drop(): void;
}

export interface Transport {
  /** Connects and subscribes (QoS 1); rejects when refused. */
  connect(identity: DeviceIdentity, subscriptions: readonly string[], events: ConnectionEvents): Promise<DeviceConnection>;
}

export interface MqttTransportOptions {
  url: string;
  /** default 10 s */
  connectTimeoutMs?: number;
  /** default 60 s */
  keepaliveSeconds?: number;
}

/** MQTT 3.1.1 (aedes speaks nothing newer), clientId = username = VIN, password = device secret, clean session. */
export function mqttTransport(options: MqttTransportOptions): Transport {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  return {
    async connect(identity, subscriptions, events) {
      let closed = false;
      let closing = false;
      const client: MqttClient = mqtt.connect(options.url, {
        clientId: identity.vin,
        username: identity.vin,
        password: identity.secret,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: connectTimeoutMs,
        keepalive: options.keepaliveSeconds ?? 60,
      });
      client.on('error', () => undefined); // a 'close' follows; that is what the vehicle acts on
      // Before CONNACK: a retained message or an ack may share a TCP segment with the SUBACK.
      client.on('message', (topic, payload) => events.message(topic, payload));
      let detach: () => void = () => undefined;
      const ready = new Promise<void>((resolve, reject) => {
        // Every way this attempt can end settles it: CONNACK refused, link closed, or no answer in time.
        const timer = setTimeout(() => fail(new Error(`no CONNACK/SUBACK within ${connectTimeoutMs} ms`)), connectTimeoutMs + 5_000);
        const fail = (error: Error) => {
          clearTimeout(timer);
          closing = true;
          client.end(true);
          reject(error);
        };
        const onClose = () => fail(new Error('connection closed before it was ready'));
        const onError = (error: Error) => fail(error);
        client.once('close', onClose);
        client.once('error', onError);
        detach = () => {
          client.off('close', onClose);
          client.off('error', onError);
        };
        client.once('connect', () => {
          if (subscriptions.length === 0) {
            clearTimeout(timer);
            return resolve();
          }
          client.subscribeAsync(Object.fromEntries(subscriptions.map((topic) => [topic, { qos: 1 as const }]))).then(
            (granted) => {
              const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
              if (refused.length > 0) return fail(new Error(`subscription refused: ${refused.join(', ')}`));
              clearTimeout(timer);
              resolve();
            },
            (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
          );
        });
      });
      await ready;
      detach();
      client.on('close', () => {
        if (closed) return;
        closed = true;
        if (!closing) events.closed('connection closed');
      });
      if (!client.connected) {
        // lost between SUBACK and here
        closed = true;
        client.end(true);
        throw new Error('connection closed before it was ready');
      }
      return {
        publish(topic, payload, qos) {
          if (client.connected) client.publish(topic, payload, { qos }, () => undefined);
        },
        async close() {
          closing = true;
          if (!closed) await client.endAsync(true);
        },
        drop() {
          client.stream.destroy();
        },
      };
    },
  };
}
