import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';
import { USAGE_FILTER } from '../mqtt/topics.js';

/**
 * Mosquitto's dynamic-security plugin as the topic ACL of DESIGN 3.0 (issue 10): unlike `acl_file`, it
 * checks SUBSCRIBE, so a device can no longer join the workers' `$share/<group>/tbox/+/usage` (and starve
 * billing of the share routed to it) nor subscribe to another VIN's topics. Mosquitto 2.0's plugin has no
 * `%u` substitution, so every vehicle gets a role of its own naming its VIN.
 *
 * Authentication stays with the `$7$` password file (`--format mosquitto`): the clients here carry no
 * password, so the plugin defers to `password_file`, which Mosquitto re-reads on SIGHUP. The plugin never
 * re-reads its own file while running (Mosquitto 2.0): new vehicles are added live through
 * `$CONTROL/dynamic-security/v1` by the sync user (`DynsecVehicleSync`), before the password file that
 * lets them in is written.
 */

/** Role of the billing workers (MQTT_USERNAME). */
export const WORKER_ROLE = 'billing-worker';
/** Role of the credentials sync user: the `$CONTROL/dynamic-security` API and nothing else. */
export const SYNC_ROLE = 'dynsec-admin';
/** The user the `--watch` exporter logs in as to add vehicles; never a VIN (lower case, `-`). */
export const SYNC_USER = 'credentials-sync';
export const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
export const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;

export const deviceRole = (vin: string) => `vin-${vin}`;

interface Acl {
  acltype: 'publishClientSend' | 'publishClientReceive' | 'subscribePattern';
  topic: string;
  allow: true;
}
export interface Role {
  rolename: string;
  acls: Acl[];
}
export interface Client {
  username: string;
  roles: { rolename: string }[];
}

const acl = (acltype: Acl['acltype'], topic: string): Acl => ({ acltype, topic, allow: true });

/**
 * A device's own topics (DESIGN 3.0). `control/#` also grants `control/+` and one app's topic: the plugin
 * grants a filter when the pattern covers it (`tbox/{vin}/#`, `#`, other VINs and `$share/…` are not).
 */
export function deviceRoleOf(vin: string): Role {
  return {
    rolename: deviceRole(vin),
    acls: [
      acl('publishClientSend', `tbox/${vin}/usage`),
      acl('subscribePattern', `tbox/${vin}/ack`),
      acl('subscribePattern', `tbox/${vin}/control/#`),
      acl('subscribePattern', `tbox/${vin}/rules`),
      acl('publishClientReceive', `tbox/${vin}/ack`),
      acl('publishClientReceive', `tbox/${vin}/control/+`),
      acl('publishClientReceive', `tbox/${vin}/rules`),
    ],
  };
}

/** The billing workers: the usage stream through any share group, and the acks, controls and rules they publish. */
export const WORKER_ROLE_DEF: Role = {
  rolename: WORKER_ROLE,
  acls: [
    acl('subscribePattern', `$share/+/${USAGE_FILTER}`),
    acl('publishClientReceive', USAGE_FILTER),
    acl('publishClientSend', 'tbox/+/ack'),
    acl('publishClientSend', 'tbox/+/control/+'),
    acl('publishClientSend', 'tbox/+/rules'),
  ],
};

export const SYNC_ROLE_DEF: Role = {
  rolename: SYNC_ROLE,
  acls: [
    acl('publishClientSend', '$CONTROL/dynamic-security/#'),
    acl('publishClientReceive', '$CONTROL/dynamic-security/#'),
    acl('subscribePattern', '$CONTROL/dynamic-security/#'),
  ],
};

/** Everything not granted by a role is refused (no `acl_file` behind the plugin to fall through to). */
export const DEFAULT_ACL_ACCESS = { publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: true };

export const deviceClient = (vin: string): Client => ({ username: vin, roles: [{ rolename: deviceRole(vin) }] });

/**
 * Streams a `dynamic-security.json`: default access, the worker and sync roles and users, and one role and
 * client per VIN. Roles come before clients in the file (the plugin loads roles first either way).
 */
export async function writeDynsecConfig(vins: AsyncIterable<string>, serviceUsername: string | null, sink: (chunk: string) => Promise<void>): Promise<number> {
  await sink(`{\n"defaultACLAccess": ${JSON.stringify(DEFAULT_ACL_ACCESS)},\n"groups": [],\n"roles": [\n  ${JSON.stringify(WORKER_ROLE_DEF)},\n  ${JSON.stringify(SYNC_ROLE_DEF)}`);
  const clients: string[] = [];
  for await (const vin of vins) {
    await sink(`,\n  ${JSON.stringify(deviceRoleOf(vin))}`);
    clients.push(JSON.stringify(deviceClient(vin)));
  }
  const fixed: Client[] = [{ username: SYNC_USER, roles: [{ rolename: SYNC_ROLE }] }];
  if (serviceUsername) fixed.push({ username: serviceUsername, roles: [{ rolename: WORKER_ROLE }] });
  await sink(`\n],\n"clients": [\n  ${[...fixed.map((c) => JSON.stringify(c)), ...clients].join(',\n  ')}\n]\n}\n`);
  return clients.length;
}

type Command = Record<string, unknown> & { command: string };

/** Commands per control message: well under Mosquitto's max_packet_size (262,400) in deploy/mosquitto. */
const MAX_MESSAGE_BYTES = 200_000;
const ALREADY_EXISTS = /already exists/i;
/** What `$CONTROL/dynamic-security/v1/response` carries (Mosquitto's dynamic security plugin). */
const DynsecAnswerSchema = z.object({ responses: z.array(z.object({ command: z.string(), error: z.string().optional(), correlationData: z.string().optional() })).optional() });

/**
 * A live connection of the sync user to the broker's `$CONTROL/dynamic-security/v1` API. Adds the
 * clients (and their roles) the plugin does not have yet; "already exists" counts as done, so it is
 * idempotent and can replay every VIN after a restart. Each created client makes the plugin rewrite its
 * whole file: fine at registration pace, see deploy/mosquitto/README.md for the fleet size it suits.
 */
export class DynsecSync {
  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, password: string, timeoutMs = 10_000): Promise<DynsecSync> {
    const client = await mqtt.connectAsync(url, {
      clientId: `${SYNC_USER}-${randomBytes(4).toString('hex')}`,
      username: SYNC_USER,
      password,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      protocolVersion: 4,
    });
    client.on('error', () => undefined);
    const [granted] = await client.subscribeAsync(RESPONSE_TOPIC, { qos: 0 });
    if (!granted || granted.qos === 0x80) {
      await client.endAsync(true);
      throw new Error(`the broker refused ${RESPONSE_TOPIC} to ${SYNC_USER}: is it in dynamic-security.json with role ${SYNC_ROLE}?`);
    }
    return new DynsecSync(client);
  }

  connected(): boolean {
    return this.client.connected;
  }

  /** Ensures a client and role per VIN (and the worker's client when given); returns how many were created. */
  async ensureVehicles(vins: Iterable<string>, serviceUsername: string | null = null, timeoutMs = 30_000): Promise<number> {
    const commands: Command[] = [];
    if (serviceUsername) commands.push({ command: 'createClient', ...{ username: serviceUsername, roles: [{ rolename: WORKER_ROLE }] } });
    for (const vin of vins) {
      commands.push({ command: 'createRole', ...deviceRoleOf(vin) });
      commands.push({ command: 'createClient', ...deviceClient(vin) });
    }
    let created = 0;
    let batch: Command[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      created += await this.send(batch, timeoutMs);
      batch = [];
      bytes = 0;
    };
    for (const command of commands) {
      const size = JSON.stringify(command).length + 1;
      if (bytes + size > MAX_MESSAGE_BYTES) await flush();
      batch.push(command);
      bytes += size;
    }
    await flush();
    return created;
  }

  /** One control message; resolves with the number of clients created, rejects on any other error. */
  private async send(commands: Command[], timeoutMs: number): Promise<number> {
    const id = randomBytes(8).toString('hex');
    const tagged = commands.map((command, index) => ({ ...command, correlationData: `${id}:${index}` }));
    const responses = new Promise<{ command: string; error?: string; correlationData?: string }[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('message', onMessage);
        reject(new Error(`no answer from ${CONTROL_TOPIC} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (topic: string, payload: Buffer) => {
        if (topic !== RESPONSE_TOPIC) return;
        // The broker's answer is data: anything not of the documented shape is not an answer to us.
        let parsed: unknown;
        try {
          parsed = JSON.parse(payload.toString());
        } catch {
          return;
        }
        const answer = DynsecAnswerSchema.safeParse(parsed);
        if (!answer.success) return;
        const mine = (answer.data.responses ?? []).filter((r) => r.correlationData?.startsWith(`${id}:`));
        if (mine.length === 0) return;
        clearTimeout(timer);
        this.client.off('message', onMessage);
        resolve(mine);
      };
      this.client.on('message', onMessage);
    });
    await this.client.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 });
    const answers = await responses;
    if (answers.length !== commands.length) throw new Error(`${CONTROL_TOPIC} answered ${answers.length} of ${commands.length} commands`);
    const failed = answers.filter((r) => r.error !== undefined && !ALREADY_EXISTS.test(r.error));
    if (failed.length > 0) throw new Error(`${CONTROL_TOPIC} refused ${failed.length} commands, e.g. ${failed[0]!.command}: ${failed[0]!.error}`);
    return answers.filter((r) => r.command === 'createClient' && r.error === undefined).length;
  }

  close(): Promise<void> {
    return this.client.endAsync();
  }
}

/**
 * What `export-credentials --watch --dynsec-url` does beside the password file: remembers which VINs the
 * broker's plugin has and adds the others. The sync user's password is random per process and goes into
 * the password file (so nothing more to configure); until that file is loaded the first `sync` cannot log
 * in and fails, and is retried by the caller after the next reload.
 */
export class DynsecVehicleSync {
  private readonly known = new Set<string>();
  private connection: DynsecSync | null = null;

  constructor(
    private readonly url: string,
    private readonly serviceUsername: string | null,
    readonly password = randomBytes(24).toString('base64url'),
  ) {}

  /** Adds the VINs the plugin may not have yet; returns how many clients were created. */
  async sync(vins: readonly string[]): Promise<number> {
    if (!this.connection?.connected()) {
      await this.connection?.close().catch(() => undefined);
      this.connection = null;
      this.known.clear(); // a new connection may be a restarted broker: replay (existing ones are no-ops)
      this.connection = await DynsecSync.connect(this.url, this.password);
    }
    const missing = vins.filter((vin) => !this.known.has(vin));
    const created = await this.connection.ensureVehicles(missing, this.known.size === 0 ? this.serviceUsername : null);
    for (const vin of missing) this.known.add(vin);
    return created;
  }

  async close(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
    this.connection = null;
  }
}
