import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

/**
 * Sends CSV text as a download: `text/csv; charset=utf-8`, `attachment; filename=…`. Chunks from an async
 * iterable are streamed (memory stays flat however long the file); the route declares the 200 with
 * `textResponse('text/csv', …)` (./schemas.ts) for the OpenAPI document.
 */
export function sendCsv(reply: FastifyReply, filename: string, csv: string | AsyncIterable<string> | Iterable<string>): FastifyReply {
  reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"`);
  return reply.send(typeof csv === 'string' ? csv : Readable.from(csv));
}
