import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { authorizeDevicePublish, authorizeDeviceSubscribe } from './acl.js';
import { guardedConnection } from './frame-guard.js';

/** DESIGN 3.0: a usage payload is at most 262,144 bytes. */
export const MAX_USAGE_PAYLOAD_BYTES = 262_144;
// Room for the topic and packet id around the largest payload; anything bigger is refused at its header.
const MAX_REMAINING_LENGTH = MAX_USAGE_PAYLOAD_BYTES + 1024;

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

export interface UsagePublish {
  vin: string;
  payload: Buffer;
  qos: number;
}

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string; port: number };
  logger: Logger;
  /** Device authentication: username = clientId = VIN, password = device secret. */
  authenticateDevice(vin: string, secret: Buffer): Promise<boolean>;
  /**
   * A device's authorised usage publish. The QoS 1 PUBACK is held until this settles, because aedes
   * PUBACKs before it stores anything and a crash would otherwise drop acknowledged usage (DESIGN 3.2).
   */
  onUsage?(message: UsagePublish): Promise<void>;
  /** A device finished CONNECT: the place to (re)send its retained rules and controls. */
  onDeviceReady?(vin: string): void;
}

export interface EmbeddedBroker {
  readonly port: number;
  readonly tlsPort: number | null;
  connectedClients(): number;
  publish(topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Closes the live session of a device (secret rotation). */
  disconnect(vin: string): void;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const log = options.logger.child({ component: 'mqtt' });
  const willRefused = new WeakSet<Client>();
  const aedes = await Aedes.createBroker({
    connectTimeout: 10_000, // a socket that sends no CONNECT within 10 s is dropped
    drainTimeout: 30_000, // a device that stops reading for 30 s is dropped rather than buffered for
    queueLimit: 42, // packets queued while a client authenticates
    maxInflightInbound: 32, // inbound QoS 2 awaiting PUBREL; devices keep at most 16 usage messages unacked
    maxClientsIdLength: 23,
    concurrency: 1000,
    preConnect(client, packet, callback) {
      // DESIGN 3.0: a Will message is refused (CONNACK 5 from authenticate, which can set a return code).
      if (packet.will) willRefused.add(client);
      callback(null, true);
    },
    authenticate(client, username, password, callback) {
      const refuse = (returnCode: number, message: string) => {
        const error = new Error(message) as AuthenticateError;
        (error as { returnCode: number }).returnCode = returnCode;
        callback(error, false);
      };
      if (willRefused.has(client)) return refuse(NOT_AUTHORIZED, 'Will messages are not accepted');
      if (!username || !password) return refuse(BAD_USERNAME_OR_PASSWORD, 'username and password required');
      if (client.id !== username) return refuse(NOT_AUTHORIZED, 'clientId must equal the username (VIN)');
      options.authenticateDevice(username, password).then(
        (ok) => (ok ? callback(null, true) : refuse(BAD_USERNAME_OR_PASSWORD, 'bad VIN or device secret')),
        (error: unknown) => {
          log.error({ err: error }, 'device authentication failed');
          refuse(3, 'server unavailable'); // [MQTT-3.2.2.3] 3: server unavailable
        },
      );
    },
    authorizePublish(client, packet, callback) {
      // Keep aedes's own guard: `$SYS/` is reserved (its default authorizePublish, which this replaces).
      if (!client || packet.topic.startsWith('$SYS/')) return callback(new Error('$SYS/ topic is reserved'));
      const decision = authorizeDevicePublish(client.id, packet.topic, packet.retain);
      // MQTT 3.1.1 has no negative PUBACK: a forbidden publish closes the connection (DESIGN 3.0).
      if (decision !== 'allow') return callback(new Error(decision === 'forbidden' ? `publish to ${packet.topic} not allowed` : 'retained usage not allowed'));
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (payload.length > MAX_USAGE_PAYLOAD_BYTES) return callback(new Error('usage payload too large'));
      if (!options.onUsage) return callback(null);
      options.onUsage({ vin: client.id, payload, qos: packet.qos }).then(
        () => callback(null),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
    authorizeSubscribe(client, subscription, callback) {
      // [MQTT-3.9.3]: a refused filter gets return code 0x80 in the SUBACK.
      callback(null, authorizeDeviceSubscribe(client.id, subscription.topic) ? subscription : null);
    },
  });
  // Usage is consumed in authorizePublish; routing it on to subscribers would only cost memory.
  aedes.authorizeForward = (_client, packet) => (packet.topic.endsWith('/usage') ? null : packet);

  aedes.on('clientReady', (client) => options.onDeviceReady?.(client.id));
  aedes.on('clientError', (client, error) => log.debug({ vin: client?.id, err: error.message }, 'client error'));
  aedes.on('connectionError', (_client, error) => log.debug({ err: error.message }, 'connection error'));

  const sockets = new Set<net.Socket>();
  const accept = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    aedes.handle(guardedConnection(socket, MAX_REMAINING_LENGTH));
  };
  const server = net.createServer(accept);
  await listen(server, options.port, options.host);
  let tlsServer: tls.Server | null = null;
  if (options.tls) {
    const [cert, key] = await Promise.all([readFile(options.tls.certFile), readFile(options.tls.keyFile)]);
    tlsServer = tls.createServer({ cert, key, minVersion: 'TLSv1.2' }, accept);
    await listen(tlsServer, options.tls.port, options.host);
  }
  const port = (server.address() as net.AddressInfo).port;
  const tlsPort = tlsServer ? (tlsServer.address() as net.AddressInfo).port : null;
  log.info({ host: options.host, port, tlsPort }, 'embedded MQTT broker listening');

  return {
    port,
    tlsPort,
    connectedClients: () => aedes.connectedClients,
    publish: (topic, payload, { qos, retain }) =>
      new Promise((resolve, reject) => {
        aedes.publish({ cmd: 'publish', topic, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos, retain, dup: false }, (error) =>
          error ? reject(error) : resolve(),
        );
      }),
    disconnect(vin) {
      (aedes as unknown as { clients: Record<string, Client | undefined> }).clients[vin]?.close();
    },
    async close() {
      server.close();
      tlsServer?.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
    },
  };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
