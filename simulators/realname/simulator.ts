import { createHash, randomUUID } from 'node:crypto';
import { bearerAccepted } from '../shared/bearer.js';
import { listen } from '../shared/listen.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { checkResidentId, checkUscc } from '../../src/shared/identifiers.js';

/**
 * A real-name verification provider, played over HTTP (DESIGN 6). Decisions:
 * - individual: the ID number must pass GB 11643 and the `livenessToken` decides — `pass…` verified,
 *   `fail…` rejected (liveness failed), `timeout…` verified but answered only after `slowMs` (the answer
 *   is lost to a client with a shorter timeout; a retry with the same idempotency key gets it at once),
 *   anything else rejected (unknown token);
 * - enterprise: the USCC must pass GB 32100 and the agent's ID number GB 11643;
 * - every request needs an `Idempotency-Key`: the same key and body replays the first answer, the same key
 *   with another body is 409;
 * - injected faults (`POST /__faults {"mode": "unavailable"|"timeout"|"reject", "count": n}`, or
 *   `simulator.injectFault`) apply to the next n new requests: 503 without deciding, a decided but slow
 *   answer, or a rejection; `failureRate` makes random 503s for demos.
 * It never logs names or ID numbers: `onLog` gets the path, the outcome and the key only.
 */

export type RealNameFault = 'unavailable' | 'timeout' | 'reject';

export interface RealNameSimulatorOptions {
  host?: string;
  port?: number;
  /** how long a slow (`timeout…`) answer takes, ms */
  slowMs?: number;
  /** probability (0–1) of a random 503 for a new request */
  failureRate?: number;
  random?: () => number;
  onLog?: (line: Record<string, unknown>) => void;
  /** When set, API requests need `Authorization: Bearer <token>` (401 otherwise), like a real provider. */
  token?: string;
}

export interface RealNameSimulator {
  url: string;
  injectFault(mode: RealNameFault, count?: number): void;
  stats(): { requests: number; decisions: number; replays: number };
  close(): Promise<void>;
}

interface Stored {
  digest: string;
  status: number;
  body: unknown;
}

const MAX_BODY = 64 * 1024;

function todayInChina(): { year: number; month: number; day: number } {
  const [year, month, day] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(Date.now())
    .split('-')
    .map(Number) as [number, number, number];
  return { year, month, day };
}

export async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(body === undefined ? '' : JSON.stringify(body));
}

const str = (value: unknown) => (typeof value === 'string' ? value : '');

export async function startRealNameSimulator(options: RealNameSimulatorOptions = {}): Promise<RealNameSimulator> {
  const slowMs = options.slowMs ?? 10_000;
  const random = options.random ?? Math.random;
  const log = options.onLog ?? (() => undefined);
  const answers = new Map<string, Stored>();
  const faults: RealNameFault[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const counters = { requests: 0, decisions: 0, replays: 0 };

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  function decideIndividual(body: Record<string, unknown>): { result: 'pass' | 'fail'; reason?: string; slow: boolean } {
    const name = str(body.name).trim();
    const idNumber = str(body.idNumber);
    const token = str(body.livenessToken);
    if (!name) return { result: 'fail', reason: 'name is missing', slow: false };
    if (!checkResidentId(idNumber, todayInChina()).ok) return { result: 'fail', reason: 'the ID number is not a valid GB 11643 number', slow: false };
    if (token.startsWith('pass')) return { result: 'pass', slow: false };
    if (token.startsWith('timeout')) return { result: 'pass', slow: true };
    if (token.startsWith('fail')) return { result: 'fail', reason: 'liveness check failed: the face does not match the ID photo', slow: false };
    return { result: 'fail', reason: 'unknown or expired liveness token', slow: false };
  }

  function decideEnterprise(body: Record<string, unknown>): { result: 'pass' | 'fail'; reason?: string; slow: boolean } {
    const agent = (body.agent ?? {}) as Record<string, unknown>;
    if (!str(body.name).trim()) return { result: 'fail', reason: 'enterprise name is missing', slow: false };
    if (!checkUscc(str(body.uscc)).ok) return { result: 'fail', reason: 'the credit code is not a valid GB 32100 code', slow: false };
    if (!str(agent.name).trim()) return { result: 'fail', reason: "the agent's name is missing", slow: false };
    if (!checkResidentId(str(agent.idNumber), todayInChina()).ok) return { result: 'fail', reason: "the agent's ID number is not a valid GB 11643 number", slow: false };
    return { result: 'pass', slow: false };
  }

  const server = createServer((request, response) => {
    void handle(request, response).catch(() => send(response, 500, { error: { code: 'INTERNAL', message: 'simulator failure' } }));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method === 'GET' && path === '/health') return send(response, 200, { status: 'ok' });
    if (request.method === 'GET' && path === '/__stats') return send(response, 200, counters);
    if (request.method === 'POST' && path === '/__faults') {
      const body = (await readJson(request).catch(() => null)) as { mode?: unknown; count?: unknown } | null;
      const mode = body?.mode;
      if (mode !== 'unavailable' && mode !== 'timeout' && mode !== 'reject') return send(response, 422, { error: { code: 'INVALID_FAULT', message: 'mode: unavailable | timeout | reject' } });
      simulator.injectFault(mode, typeof body?.count === 'number' ? body.count : 1);
      return send(response, 204, undefined);
    }
    const kind = path === '/v1/verifications/individual' ? 'individual' : path === '/v1/verifications/enterprise' ? 'enterprise' : null;
    if (request.method !== 'POST' || kind === null) return send(response, 404, { error: { code: 'NOT_FOUND', message: 'no such endpoint' } });
    if (!bearerAccepted(request, options.token)) return send(response, 401, { error: { code: 'UNAUTHORIZED', message: 'send Authorization: Bearer <your API token>' } });
    counters.requests += 1;
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) return send(response, 400, { error: { code: 'IDEMPOTENCY_KEY_REQUIRED', message: 'send an Idempotency-Key header' } });
    let body: Record<string, unknown>;
    try {
      body = ((await readJson(request)) ?? {}) as Record<string, unknown>;
    } catch {
      return send(response, 400, { error: { code: 'INVALID_JSON', message: 'the body is not JSON' } });
    }
    const digest = createHash('sha256').update(kind).update(JSON.stringify(body)).digest('hex');
    const previous = answers.get(key);
    if (previous) {
      if (previous.digest !== digest) return send(response, 409, { error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this key was used for another request' } });
      counters.replays += 1;
      log({ path, key, outcome: 'replayed' });
      return send(response, previous.status, previous.body);
    }
    const fault = faults.shift() ?? (options.failureRate && random() < options.failureRate ? 'unavailable' : undefined);
    if (fault === 'unavailable') {
      log({ path, key, outcome: 'unavailable (injected)' });
      return send(response, 503, { error: { code: 'UNAVAILABLE', message: 'the verification service is busy; retry later' } });
    }
    const decision = fault === 'reject' ? { result: 'fail' as const, reason: 'rejected by the provider (injected fault)', slow: false } : kind === 'individual' ? decideIndividual(body) : decideEnterprise(body);
    const answer = { verificationId: `rn_${randomUUID()}`, result: decision.result, ...(decision.reason ? { reason: decision.reason } : {}) };
    answers.set(key, { digest, status: 200, body: answer });
    counters.decisions += 1;
    log({ path, key, outcome: decision.result });
    if (decision.slow || fault === 'timeout') later(slowMs, () => send(response, 200, answer));
    else send(response, 200, answer);
  }

  const url = await listen(server, options);

  const simulator: RealNameSimulator = {
    url,
    injectFault(mode, count = 1) {
      for (let i = 0; i < count; i++) faults.push(mode);
    },
    stats: () => ({ ...counters }),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return simulator;
}
