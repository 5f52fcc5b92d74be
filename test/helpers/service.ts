import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createApiClient, injectFetch, type ApiClient } from '../../simulators/shared/api/client.js';
import { startService, type Service } from '../../src/service.js';
import { manualClock, systemClock, type Clock } from '../../src/shared/clock.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from './database.js';
import { makeIccid, makeVin } from './fixtures.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';
/** REALNAME_TOKEN and EINVOICE_TOKEN of every test service (the simulators of sims-support require it). */
export const TEST_PROVIDER_TOKEN = 'test-provider-token-0123456789abcdef';

interface TestContext {
  teardown(fn: () => unknown): void;
}

export interface TestService {
  service: Service;
  /** Every log line the service wrote, as parsed JSON. */
  logs: Array<Record<string, unknown>>;
  rawLogs(): string;
  mqttUrl: string;
  request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, options?: { body?: unknown; token?: string | null }): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  /** The API through the client generated from its OpenAPI document, as the admin (or with `token`), via `inject`. */
  api(token?: string): ApiClient;
  registerVehicle(serial?: number, extra?: Record<string, unknown>): Promise<{ vin: string; iccid: string; deviceSecret: string }>;
  connectDevice(vin: string, secret: string, options?: IClientOptions): Promise<MqttClient>;
}

let nextSerial = 1;

/** The whole service in-process: a fresh database, the embedded broker and HTTP on free loopback ports. */
export async function startTestService(t: TestContext, env: Record<string, string> = {}, clock: Clock = systemClock): Promise<TestService> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tbox-test-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const databaseUrl = env.DATABASE_URL ?? (await createTestDatabase(t));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    DATA_DIR: dataDir,
    CATALOG_DIR: path.join(PROJECT_ROOT, 'sponsors'),
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    PII_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'debug',
    // A test service is not in dev mode (DATABASE_URL is set), so its broker would need TLS: these tests
    // speak plaintext on loopback, as behind a TLS-terminating proxy. test/integration/mqtt-edge.test.ts
    // starts the production shape (TLS only) with an env that unsets this.
    MQTT_PLAINTEXT: 'behind-tls-proxy',
    REALNAME_TOKEN: TEST_PROVIDER_TOKEN,
    EINVOICE_TOKEN: TEST_PROVIDER_TOKEN,
    ...env,
    DATABASE_URL: databaseUrl,
  });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      callback();
    },
  });
  const service = await startService(config, { logger: createLogger(config.LOG_LEVEL, sink), clock });
  t.teardown(() => service.stop());
  const mqttUrl = `mqtt://127.0.0.1:${service.broker?.port}`;

  const request: TestService['request'] = async (method, url, options = {}) => {
    const token = options.token === undefined ? TEST_ADMIN_TOKEN : options.token;
    const response = await service.app.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
    });
    let body: unknown = response.body;
    try {
      body = response.json();
    } catch {
      // not JSON
    }
    return { status: response.statusCode, body, headers: response.headers };
  };

  const api = (token: string = TEST_ADMIN_TOKEN) => createApiClient('http://localhost', { token, fetch: injectFetch(service.app) });

  return {
    service,
    api,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    rawLogs: () => lines.join('\n'),
    mqttUrl,
    request,
    async registerVehicle(serial = nextSerial++, extra = {}) {
      const vin = makeVin(serial);
      const iccid = makeIccid(serial);
      // `extra` may hold invalid fields on purpose: the typed body is widened for those tests.
      const body = { vin, iccid, automaker: 'oem-acme', model: 'S1', activatedAt: '2026-01-01T00:00:00+08:00', ...extra } as { vin: string; iccid: string; automaker: string; model: string };
      const { data, error, response } = await api().POST('/v1/vehicles', { body });
      if (!data) throw new Error(`register failed: ${response.status} ${JSON.stringify(error)}`);
      return { vin, iccid, deviceSecret: data.deviceSecret };
    },
    connectDevice(vin, secret, options = {}) {
      return mqtt.connectAsync(mqttUrl, { clientId: vin, username: vin, password: secret, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    },
  };
}

export { manualClock };
