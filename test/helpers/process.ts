import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/shared/db/embedded.js';
import { PROJECT_ROOT, startNodeFlags } from '../../src/shared/paths.js';
import { ensureBuilt } from '../setup/build.js';

export interface ServiceProcess {
  child: ChildProcess;
  httpUrl: string;
  mqttPort: number;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  waitReady(): Promise<void>;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The built service (`dist/src/server.js`, what `npm start` runs; built first if stale) as its own process on free ports. */
export async function spawnService(env: Record<string, string>): Promise<ServiceProcess> {
  await ensureBuilt();
  const port = await freePort();
  const mqttPort = await freePort();
  const child = spawn(process.execPath, [...startNodeFlags(), path.join(PROJECT_ROOT, 'dist/src/server.js')], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), MQTT_PORT: String(mqttPort), MQTT_HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const httpUrl = `http://127.0.0.1:${port}`;
  return {
    child,
    httpUrl,
    mqttPort,
    output: () => output,
    exited,
    async waitReady() {
      // Polls /ready until it answers 200 or the process exits (bounded by the test's own timeout).
      for (;;) {
        if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${output}`);
        const ok = await fetch(`${httpUrl}/ready`).then((r) => r.status === 200, () => false);
        if (ok) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
