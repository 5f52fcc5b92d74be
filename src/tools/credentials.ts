import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { latestSecretChange, secretChangesSince, vehicleSecretPage, vinPage, type VehicleSecretRow } from '../vehicles/fleet-repository.js';
import { hashDeviceSecret, toEmqxUser, toMosquittoHash, type StoredSecret } from '../vehicles/device-secret.js';
import { writeDynsecConfig } from './dynsec.js';

/**
 * Device credentials for an external broker (DESIGN 3.0): the PBKDF2-SHA512 records of `vehicles`,
 * converted without the secrets to Mosquitto's `$7$` password file or to EMQX's built-in database
 * import JSON (`import_users?type=hash`), plus the billing service's own user; and, for Mosquitto, the
 * dynamic-security plugin's ACL file (`mosquitto-dynsec`, see dynsec.ts; no passwords in it). Nothing here
 * ever sees a device secret; the service user's password is hashed here and dropped.
 */
export type CredentialFormat = 'mosquitto' | 'mosquitto-dynsec' | 'emqx';
export const CREDENTIAL_FORMATS: readonly CredentialFormat[] = ['mosquitto', 'mosquitto-dynsec', 'emqx'];

export interface ServiceUser {
  username: string;
  password: string;
}

/** Letters, digits, `_`, `.` and `-`: no `:` (the password file's separator), no `+ # /` (Mosquitto's pattern ACLs refuse those). */
export const SERVICE_USERNAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Mosquitto 2.0 accepts a `$7$` salt of exactly 12 bytes and drops any other entry with "Unable to decode
 * password salt" (2.1 also takes 64). A vehicle whose stored salt has another length cannot be exported
 * to Mosquitto until its secret is rotated with a 12-byte salt; EMQX takes any printable salt.
 */
export const MOSQUITTO_SALT_BYTES = 12;

/** Hashes the service user's password the way device secrets are stored, with a salt every broker reads. */
export async function hashServicePassword(password: string): Promise<StoredSecret> {
  // base64url of 9 random bytes: 12 printable bytes (72 bits), a salt Mosquitto and EMQX both take.
  return hashDeviceSecret(password, Buffer.from(randomBytes(9).toString('base64url'), 'ascii'));
}

export interface CredentialEntry {
  username: string;
  stored: StoredSecret;
}

/** One `username:$7$…` line, or null when Mosquitto could not read this salt (see MOSQUITTO_SALT_BYTES). */
export function mosquittoLine(entry: CredentialEntry): string | null {
  if (entry.stored.salt.length !== MOSQUITTO_SALT_BYTES) return null;
  return `${entry.username}:${toMosquittoHash(entry.stored)}\n`;
}

/** One EMQX built-in database user (pbkdf2, sha512; the hash hex-encoded as EMQX compares it). */
export function emqxUser(entry: CredentialEntry): string {
  return JSON.stringify(toEmqxUser(entry.username, entry.stored));
}

/**
 * What the last export saw, to tell whether anything changed since: the newest `created_at` /
 * `secret_rotated_at`, and every (vin, change time) within LOOKBACK_MS of it. Timestamps come from the
 * workers' clocks and commit out of order, so a change stamped a little before the watermark can still
 * appear later; the lookback bounds that skew.
 */
export interface ExportSnapshot {
  watermarkMs: number | null;
  recent: ReadonlySet<string>;
}

export const LOOKBACK_MS = 5 * 60_000;
const PAGE = 5_000;
const changeKey = (vin: string, changedMs: number) => `${vin}@${changedMs}`;

/** Every vehicle's stored secret in VIN order, in pages, from one consistent snapshot (the caller's transaction). */
async function* readVehicleSecrets(client: PoolClient): AsyncGenerator<VehicleSecretRow> {
  let after = '';
  for (;;) {
    const rows = await vehicleSecretPage(client, after, PAGE);
    yield* rows;
    const last = rows.at(-1);
    if (rows.length < PAGE || !last) return;
    after = last.vin;
  }
}

export interface ExportResult {
  /** vehicles written */
  vehicles: number;
  /** vehicles left out because the format cannot express their stored secret (Mosquitto: salt length) */
  skipped: number;
  snapshot: ExportSnapshot;
}

export interface ExportOptions {
  format: CredentialFormat;
  /** mosquitto-dynsec needs only the username (the password stays in the password file) */
  serviceUser?: ServiceUser | undefined;
  /** further non-vehicle users for the password file, e.g. the dynsec sync user of `--watch` */
  extraUsers?: readonly ServiceUser[] | undefined;
}

/**
 * Writes the credentials file for `format` to `sink` (chunks of text), vehicles in VIN order and then the
 * service user, all read in one REPEATABLE READ transaction so the file and its snapshot agree.
 */
export async function exportCredentials(pool: Pool, options: ExportOptions, sink: (chunk: string) => Promise<void>): Promise<ExportResult> {
  if (options.format === 'mosquitto-dynsec') {
    const serviceUsername = options.serviceUser?.username ?? null;
    return inSnapshot(pool, async (rows) => {
      async function* vins(): AsyncGenerator<string> {
        for await (const row of rows) yield row.vin;
      }
      return { vehicles: await writeDynsecConfig(vins(), serviceUsername, sink), skipped: 0 };
    });
  }
  const hashed = async (user: ServiceUser): Promise<CredentialEntry> => ({ username: user.username, stored: await hashServicePassword(user.password) });
  const service = options.serviceUser ? await hashed(options.serviceUser) : null;
  const extra = await Promise.all((options.extraUsers ?? []).map(hashed));
  return inSnapshot(pool, async (rows) => {
    let vehicles = 0;
    let skipped = 0;
    let first = true;
    if (options.format === 'emqx') await sink('[\n');
    const write = async (entry: CredentialEntry): Promise<boolean> => {
      if (options.format === 'mosquitto') {
        const line = mosquittoLine(entry);
        if (line === null) return false;
        await sink(line);
      } else {
        await sink(`${first ? '' : ',\n'}  ${emqxUser(entry)}`);
        first = false;
      }
      return true;
    };
    for await (const row of rows) {
      // The brokers' hash (12-byte salt) when the vehicle has one; vehicles from before it keep the DESIGN 3.0 one.
      const stored =
        row.broker_secret_salt && row.broker_secret_hash
          ? { iterations: row.secret_iterations, salt: row.broker_secret_salt, hash: row.broker_secret_hash }
          : { iterations: row.secret_iterations, salt: row.secret_salt, hash: row.secret_hash };
      if (await write({ username: row.vin, stored })) vehicles++;
      else skipped++;
    }
    if (service && !(await write(service))) throw new Error('the service user could not be written');
    for (const entry of extra) if (!(await write(entry))) throw new Error(`the user ${entry.username} could not be written`);
    if (options.format === 'emqx') await sink(first ? ']\n' : '\n]\n');
    return { vehicles, skipped };
  });
}

/**
 * Runs `write` over every vehicle's secret row, in VIN order, in one REPEATABLE READ READ ONLY transaction
 * so a file and its snapshot agree; the snapshot notes the changes near its watermark (for `--watch`).
 */
async function inSnapshot(
  pool: Pool,
  write: (rows: AsyncIterable<VehicleSecretRow>) => Promise<Omit<ExportResult, 'snapshot'>>,
): Promise<ExportResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const watermarkMs = (await latestSecretChange(client))?.getTime() ?? null;
    const recent = new Set<string>();
    async function* noted(): AsyncGenerator<VehicleSecretRow> {
      for await (const row of readVehicleSecrets(client)) {
        const changedMs = row.changed_at.getTime();
        if (watermarkMs !== null && changedMs > watermarkMs - LOOKBACK_MS) recent.add(changeKey(row.vin, changedMs));
        yield row;
      }
    }
    const written = await write(noted());
    await client.query('COMMIT');
    return { ...written, snapshot: { watermarkMs, recent } };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Every VIN, in order (what the dynsec sync of `--watch` makes sure the broker knows). */
export async function listVins(pool: Pool): Promise<string[]> {
  const vins: string[] = [];
  for (;;) {
    const page = await vinPage(pool, vins.at(-1) ?? '', PAGE);
    vins.push(...page);
    if (page.length < PAGE) return vins;
  }
}

/**
 * True when a vehicle was created or its secret rotated since `snapshot` (DESIGN 3.0: both change what the
 * broker must accept). Vehicles are never deleted, so new or newer rows are the only changes.
 */
export async function credentialsChangedSince(pool: Pool, snapshot: ExportSnapshot): Promise<boolean> {
  if (snapshot.watermarkMs === null) {
    return (await vinPage(pool, '', 1)).length > 0;
  }
  const since = new Date(snapshot.watermarkMs - LOOKBACK_MS);
  const changes = await secretChangesSince(pool, since);
  return changes.some((change) => !snapshot.recent.has(changeKey(change.vin, change.changedAt.getTime())));
}

/**
 * Writes a file the way a reader never sees half of it: a temporary file in the same directory (mode
 * 0600: the file holds password hashes), fsync, then rename over the target. The previous file stays in
 * place if anything fails.
 */
export async function writeFileAtomic<T>(target: string, produce: (sink: (chunk: string) => Promise<void>) => Promise<T>): Promise<T> {
  const directory = path.dirname(path.resolve(target));
  const temporary = path.join(directory, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    // Buffered: one write per 64 KiB rather than one per line.
    let buffer = '';
    const flush = async () => {
      if (buffer.length > 0) await handle.write(buffer);
      buffer = '';
    };
    const result = await produce(async (chunk) => {
      buffer += chunk;
      if (buffer.length >= 65_536) await flush();
    });
    await flush();
    await handle.chmod(0o600);
    await handle.sync();
    await handle.close();
    await rename(temporary, target);
    await syncDirectory(directory);
    return result;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Makes the rename durable; some filesystems refuse to open a directory for sync, which is then skipped. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r').catch(() => null);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}

/** Asks the broker to reload its password file: Mosquitto re-reads it (and its ACL file) on SIGHUP. */
export async function signalReload(pidFile: string, read: (file: string) => Promise<string>): Promise<number> {
  const text = (await read(pidFile)).trim();
  const pid = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 0) throw new Error(`${pidFile} does not hold a process id`);
  process.kill(pid, 'SIGHUP');
  return pid;
}
