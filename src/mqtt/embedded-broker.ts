import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { authorizeDevicePublish, authorizeDeviceSubscribe } from './acl.js';
import { guardedConnection } from './frame-guard.js';
import type { BrokerMetrics } from './metrics.js';
import { MAX_USAGE_PAYLOAD_BYTES } from '../shared/protocol.js';

// Room for the topic and packet id around the largest payload; anything bigger is refused at its header.
const MAX_REMAINING_LENGTH = MAX_USAGE_PAYLOAD_BYTES + 1024;

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** What device authentication decided; `checked` when it read the database (src/vehicles/device-auth.ts). */
export interface DeviceAuthResult {
  outcome: 'accepted' | 'rejected' | 'vin-limited' | 'address-limited';
  checked: boolean;
}

export interface UsagePublish {
  vin: string;
  payload: Buffer;
  qos: number;
  /** Gives the message's room in the usage gate back (idempotent): call when ingest no longer holds it. */
  release(): void;
}

/**
 * Ingest's back-pressure gate (src/ingest/backpressure.ts) as the broker edge uses it: a usage message is
 * offered with its size and goes on to `onUsage` only once admitted (at once while there is room).
 */
export interface UsageGate {
  enter(bytes: number, admitted: (ticket: UsageTicket) => void): UsageTicket;
}

export interface UsageTicket {
  readonly admitted: boolean;
  /** Admitted: frees its room. Waiting: withdraws it, it is never admitted. */
  release(): void;
}

/** Without a gate every message is admitted at once and there is nothing to give back. */
export const NO_GATE: UsageGate = {
  enter(_bytes, admitted) {
    const ticket: UsageTicket = { admitted: true, release: () => undefined };
    admitted(ticket);
    return ticket;
  },
};

export interface EmbeddedBrokerOptions {
  host: string;
  /**
   * The plaintext listener, or null for none (outside dev mode unless MQTT_PLAINTEXT=behind-tls-proxy).
   * Behind a proxy every socket comes from the proxy's address, so source addresses are not limited there.
   */
  plaintext: { port: number; behindProxy: boolean } | null;
  tls?: { certFile: string; keyFile: string; port: number };
  /** Open sockets over both listeners; one more is closed on arrival (MQTT_MAX_CONNECTIONS). */
  maxConnections?: number;
  /** A CONNECT with keepalive 0 or above this many seconds is refused (MQTT_MAX_KEEPALIVE). */
  maxKeepaliveSeconds?: number;
  logger: Logger;
  metrics?: BrokerMetrics;
  /**
   * Device authentication: username = clientId = VIN, password = device secret; `source` is the client's
   * address when the socket comes from the device itself, else null.
   */
  authenticateDevice(vin: string, secret: Buffer, source: string | null): Promise<DeviceAuthResult>;
  /**
   * A device's authorised usage publish. The QoS 1 PUBACK is held until this settles, because aedes
   * PUBACKs before it stores anything and a crash would otherwise drop acknowledged usage (DESIGN 3.2).
   */
  onUsage?(message: UsagePublish): Promise<void>;
  /**
   * Issue 11: a usage publish waits for room here before `onUsage`. While it waits aedes reads nothing
   * more from that device's socket (it reads again only when every packet of its last read is handled),
   * so a full ingest stops reading the devices that publish, and TCP holds them back.
   */
  gate?: UsageGate;
  /** A device finished CONNECT: the place to (re)send its retained rules and controls. */
  onDeviceReady?(vin: string): void;
}

export interface EmbeddedBroker {
  /** The plaintext listener's port, null when it is off. */
  readonly port: number | null;
  readonly tlsPort: number | null;
  connectedClients(): number;
  publish(topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /** Closes the live session of a device (secret rotation). */
  disconnect(vin: string): void;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const log = options.logger.child({ component: 'mqtt' });
  if (!options.plaintext && !options.tls) throw new Error('the embedded broker needs a plaintext or a TLS listener');
  const maxConnections = options.maxConnections ?? 20_000;
  const maxKeepalive = options.maxKeepaliveSeconds ?? 1200;
  const metrics = options.metrics;
  const gate = options.gate ?? NO_GATE;
  // What preConnect saw and authenticate (which can set a return code) acts on.
  const connectRefusals = new WeakMap<Client, { code: number; reason: string; message: string }>();
  // The device's own address, for connections that come straight from it.
  const sources = new WeakMap<object, string>();
  const aedes = await Aedes.createBroker({
    connectTimeout: 10_000, // a socket that sends no CONNECT within 10 s is dropped
    drainTimeout: 30_000, // a device that stops reading for 30 s is dropped rather than buffered for
    queueLimit: 42, // packets queued while a client authenticates
    maxInflightInbound: 32, // inbound QoS 2 awaiting PUBREL; devices keep at most 16 usage messages unacked
    maxClientsIdLength: 23,
    concurrency: 1000,
    preConnect(client, packet, callback) {
      // DESIGN 3.0: a Will message is refused (CONNACK 5 from authenticate, which can set a return code).
      if (packet.will) connectRefusals.set(client, { code: NOT_AUTHORIZED, reason: 'will', message: 'Will messages are not accepted' });
      // Keepalive 0 turns the check off [MQTT-3.1.2-10]: a socket half-closed by a carrier NAT would hold its
      // slot for ever. MQTT 3.1.1 cannot tell a client to use another value (MQTT 5 can: Server Keep Alive,
      // [MQTT-3.2.2-21]), so, as Mosquitto does for 3.1.1 clients above its max_keepalive, the CONNECT is
      // refused with 2 (identifier rejected).
      else if (!packet.keepalive || packet.keepalive > maxKeepalive) {
        connectRefusals.set(client, { code: IDENTIFIER_REJECTED, reason: 'keepalive', message: `keepalive must be 1..${maxKeepalive} s` });
      }
      callback(null, true);
    },
    authenticate(client, username, password, callback) {
      const refuse = (returnCode: number, message: string) => {
        const error = new Error(message) as AuthenticateError;
        (error as { returnCode: number }).returnCode = returnCode;
        callback(error, false);
      };
      const early = connectRefusals.get(client);
      if (early) {
        metrics?.authRefused.inc({ reason: early.reason });
        return refuse(early.code, early.message);
      }
      if (!username || !password) {
        metrics?.authRefused.inc({ reason: 'no_credentials' });
        return refuse(BAD_USERNAME_OR_PASSWORD, 'username and password required');
      }
      if (client.id !== username) {
        metrics?.authRefused.inc({ reason: 'client_id' });
        return refuse(NOT_AUTHORIZED, 'clientId must equal the username (VIN)');
      }
      options.authenticateDevice(username, password, sources.get(client.conn) ?? null).then(
        ({ outcome, checked }) => {
          if (checked) metrics?.authChecks.inc();
          if (outcome === 'accepted') return callback(null, true);
          if (outcome === 'rejected') {
            metrics?.authRefused.inc({ reason: 'bad_credentials' });
            return refuse(BAD_USERNAME_OR_PASSWORD, 'bad VIN or device secret');
          }
          metrics?.authRefused.inc({ reason: outcome === 'vin-limited' ? 'vin_limited' : 'address_limited' });
          // Unchecked: the credentials may be right. 3 (server unavailable) tells a device to come back later.
          log.debug({ vin: username, outcome }, 'CONNECT refused unchecked after repeated failures');
          return refuse(SERVER_UNAVAILABLE, 'too many failed attempts; retry later');
        },
        (error: unknown) => {
          log.error({ err: error }, 'device authentication failed');
          refuse(SERVER_UNAVAILABLE, 'server unavailable'); // [MQTT-3.2.2.3] 3: server unavailable
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
      const onUsage = options.onUsage;
      if (!onUsage) return callback(null);
      const deliver = (ticket: UsageTicket) =>
        onUsage({ vin: client.id, payload, qos: packet.qos, release: () => ticket.release() }).then(
          () => callback(null),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      // A device that goes away while its publish waits is withdrawn from the line: nothing was PUBACKed
      // or acked, it resends when it is back (DESIGN 3.2).
      const conn = client.conn;
      const withdraw = () => {
        ticket.release();
        callback(new Error('connection closed while ingest was full'));
      };
      const ticket = gate.enter(payload.length, (admitted) => {
        conn.off('close', withdraw);
        void deliver(admitted);
      });
      if (!ticket.admitted) conn.once('close', withdraw);
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
  const refuseSocket = (socket: net.Socket) => {
    metrics?.connectionsRefused.inc();
    socket.destroy();
  };
  const accept = (socket: net.Socket, fromDevice: boolean) => {
    // One budget over both listeners; each listener's own maxConnections (below) also drops sockets
    // before a TLS handshake is spent on them.
    if (sockets.size >= maxConnections) return refuseSocket(socket);
    sockets.add(socket);
    metrics?.connections.set(sockets.size);
    socket.on('close', () => {
      sockets.delete(socket);
      metrics?.connections.set(sockets.size);
    });
    socket.setNoDelay(true);
    const connection = guardedConnection(socket, MAX_REMAINING_LENGTH);
    if (fromDevice && socket.remoteAddress) sources.set(connection, socket.remoteAddress);
    aedes.handle(connection);
  };
  let server: net.Server | null = null;
  if (options.plaintext) {
    const fromDevice = !options.plaintext.behindProxy;
    server = net.createServer((socket) => accept(socket, fromDevice));
    server.maxConnections = maxConnections;
    server.on('drop', () => metrics?.connectionsRefused.inc());
    await listen(server, options.plaintext.port, options.host);
  }
  let tlsServer: tls.Server | null = null;
  if (options.tls) {
    const [cert, key] = await Promise.all([readFile(options.tls.certFile), readFile(options.tls.keyFile)]);
    // handshakeTimeout as connectTimeout: a socket that never finishes its handshake holds a slot 10 s, not 120 s.
    tlsServer = tls.createServer({ cert, key, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, (socket) => accept(socket, true));
    tlsServer.maxConnections = maxConnections;
    tlsServer.on('drop', () => metrics?.connectionsRefused.inc());
    await listen(tlsServer, options.tls.port, options.host).catch((error: unknown) => {
      server?.close();
      throw error;
    });
  }
  const port = server ? (server.address() as net.AddressInfo).port : null;
  const tlsPort = tlsServer ? (tlsServer.address() as net.AddressInfo).port : null;
  log.info({ host: options.host, port, tlsPort, maxConnections, maxKeepalive }, 'embedded MQTT broker listening');

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
      server?.close();
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
