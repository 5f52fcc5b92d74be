import { Counter, Gauge, type Registry } from 'prom-client';

/** The embedded broker's own counters (docs/operations.md, monitoring). */
export function createBrokerMetrics(registry: Registry) {
  return {
    connections: new Gauge({ name: 'mqtt_connections', help: 'Open device sockets on the embedded broker', registers: [registry] }),
    connectionsRefused: new Counter({
      name: 'mqtt_connections_refused_total',
      help: 'Device sockets closed on arrival because MQTT_MAX_CONNECTIONS were open',
      registers: [registry],
    }),
    authRefused: new Counter({
      name: 'mqtt_auth_refused_total',
      help: 'Refused CONNECTs by reason: bad_credentials (checked), vin_limited and address_limited (refused unchecked), keepalive, client_id, will, no_credentials',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    authChecks: new Counter({
      name: 'mqtt_auth_checks_total',
      help: 'CONNECT credentials checked against the database (each may run PBKDF2)',
      registers: [registry],
    }),
  };
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;
