import { startRealNameSimulator } from './simulator.js';

/**
 * Standalone real-name provider simulator: `tsx simulators/realname/server.ts` prints its URL; point the
 * service at it with `REALNAME_URL=<url>`. Environment: `HOST` (127.0.0.1), `PORT` (0 = a free port), `TOKEN` (none),
 * `SLOW_MS` (10000, the delay of a `timeout…` answer), `FAILURE_RATE` (0, random 503s).
 */
const simulator = await startRealNameSimulator({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  slowMs: Number(process.env.SLOW_MS ?? 10_000),
  failureRate: Number(process.env.FAILURE_RATE ?? 0),
  // With TOKEN set, requests need `Authorization: Bearer <TOKEN>` (the service's REALNAME_TOKEN).
  ...(process.env.TOKEN ? { token: process.env.TOKEN } : {}),
  onLog: (line) => process.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), ...line })}\n`),
});
process.stdout.write(`${simulator.url}\n`);
const stop = () => void simulator.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
