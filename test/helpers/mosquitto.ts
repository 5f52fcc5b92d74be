import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../../src/shared/db/embedded.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

/** The repository's broker configuration (deploy/mosquitto), the file the interop tests run. */
export const MOSQUITTO_CONFIG = path.join(PROJECT_ROOT, 'deploy/mosquitto/mosquitto.conf');
/** The service user (MQTT_USERNAME) of docker-compose.yml. */
export const MOSQUITTO_SERVICE_USER = 'billing';

/** Debian's `mosquitto` package installs the broker in /usr/sbin, which is not on every PATH. */
export function mosquittoBinary(): string {
  if (process.env.MOSQUITTO_BIN) return process.env.MOSQUITTO_BIN;
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto']) if (existsSync(candidate)) return candidate;
  return 'mosquitto';
}

/** The dynamic-security plugin: /usr/lib in the eclipse-mosquitto image, the multiarch folder on Debian. */
export function dynsecPlugin(): string {
  if (process.env.MOSQUITTO_DYNSEC_PLUGIN) return process.env.MOSQUITTO_DYNSEC_PLUGIN;
  const candidates = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib'].map((dir) => path.join(dir, 'mosquitto_dynamic_security.so'));
  return candidates.find((candidate) => existsSync(candidate)) ?? candidates[0]!;
}

export interface MosquittoBroker {
  /** the device listener (use_username_as_clientid) and the billing workers' listener */
  deviceUrl: string;
  serviceUrl: string;
  pid: number;
  pidFile: string;
  /** SIGHUP: Mosquitto re-reads its password file */
  reload(): void;
  output(): string;
  stop(): Promise<void>;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Starts Mosquitto on free loopback ports with the repository's mosquitto.conf, changing only the two
 * listeners' ports and the file paths. `passwordFile` and `dynsecFile` (the dynamic-security plugin's
 * file, which the plugin rewrites as it changes) must exist: Mosquitto refuses to start without them.
 * Stopped at teardown.
 */
export async function startMosquitto(t: Teardown, options: { dir: string; passwordFile: string; dynsecFile: string }): Promise<MosquittoBroker> {
  const devicePort = await freePort();
  const servicePort = await freePort();
  const pidFile = path.join(options.dir, 'mosquitto.pid');
  await mkdir(path.join(options.dir, 'data'), { recursive: true });
  const listeners = new Map([
    ['1883', `listener ${devicePort} 127.0.0.1`],
    ['1884', `listener ${servicePort} 127.0.0.1`],
  ]);
  const paths = new Map([
    ['password_file', options.passwordFile],
    ['plugin', dynsecPlugin()],
    ['plugin_opt_config_file', options.dynsecFile],
    ['pid_file', pidFile],
    ['persistence_location', `${path.join(options.dir, 'data')}/`],
  ]);
  const replaced = new Set<string>();
  const lines = (await readFile(MOSQUITTO_CONFIG, 'utf8')).split('\n').map((line) => {
    const [key, value] = line.trim().split(/\s+/, 2);
    if (key === 'listener' && value && listeners.has(value)) {
      replaced.add(`listener ${value}`);
      return listeners.get(value)!;
    }
    if (key && paths.has(key)) {
      replaced.add(key);
      return `${key} ${paths.get(key)}`;
    }
    return line;
  });
  const expected = [...[...listeners.keys()].map((port) => `listener ${port}`), ...paths.keys()];
  const missing = expected.filter((key) => !replaced.has(key));
  if (missing.length > 0) throw new Error(`${MOSQUITTO_CONFIG} no longer has: ${missing.join(', ')} (test/helpers/mosquitto.ts rewrites them)`);
  // As root Mosquitto switches to the `mosquitto` user, which could not read the test's private files.
  if (process.getuid?.() === 0) lines.unshift('user root');
  const configFile = path.join(options.dir, 'mosquitto.conf');
  await writeFile(configFile, lines.join('\n'));

  const child: ChildProcess = spawn(mosquittoBinary(), ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) => child.once('error', (error) => reject(new Error(`cannot start ${mosquittoBinary()}: ${error.message} (install Debian's mosquitto package)`))));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  t.teardown(stop);
  await Promise.race([spawnError, Promise.all([waitForPort(devicePort, child, () => output), waitForPort(servicePort, child, () => output)])]);
  return {
    deviceUrl: `mqtt://127.0.0.1:${devicePort}`,
    serviceUrl: `mqtt://127.0.0.1:${servicePort}`,
    pid: child.pid!,
    pidFile,
    reload: () => child.kill('SIGHUP'),
    output: () => output,
    stop,
  };
}

/** Polls until the port accepts a TCP connection, or fails with the broker's output if it exited. */
async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
