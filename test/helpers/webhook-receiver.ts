import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../src/shared/clock.js';
import { verifyWebhook } from '../../src/webhooks/signature.js';

interface Ctx {
  teardown(fn: () => unknown): void;
}

export interface Received {
  path: string;
  id: string;
  timestamp: number;
  body: string;
  verified: boolean;
  answered: number;
}

export interface ReceivedEvent {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, any>;
}

/**
 * A real HTTP webhook receiver on a free loopback port, as a sponsor or merchant would run one: it verifies
 * every request's Standard Webhooks signature and timestamp against the test clock (401 when wrong) and
 * answers 204, or 500 for as many requests to a path as `failures` says (Infinity: always).
 */
export async function startWebhookReceiver(t: Ctx, clock: Clock) {
  const received: Received[] = [];
  /** The secret of each path's endpoint (`whsec_…`), set when the endpoint is created. */
  const secrets = new Map<string, string>();
  const failures = new Map<string, number>();
  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const path = request.url ?? '';
      const headers = { id: String(request.headers['webhook-id']), timestamp: String(request.headers['webhook-timestamp']), signature: String(request.headers['webhook-signature']) };
      const verified = verifyWebhook(secrets.get(path) ?? 'whsec_', headers, body, Math.floor(clock.now() / 1000));
      const failing = failures.get(path) ?? 0;
      const answered = !verified ? 401 : failing > 0 ? 500 : 204;
      if (failing > 0) failures.set(path, failing - 1);
      received.push({ path, id: headers.id, timestamp: Number(headers.timestamp), body, verified, answered });
      response.writeHead(answered).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    secrets,
    failures,
    /** What reached `path`, in arrival order. */
    at: (path: string) => received.filter((r) => r.path === path),
    parsed: (r: Received) => JSON.parse(r.body) as ReceivedEvent,
  };
}
