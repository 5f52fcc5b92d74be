import { createHash } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { AppError } from '../shared/errors.js';
import { dayOf } from '../shared/time.js';
import { decodeLine, parseHeader, parseLine, splitLines, type CarrierHeader, type CarrierLine, type LineError } from './carrier-csv.js';
import { applyStaged, changedStagedLines, createStage, duplicateStagedLines, lockFile, stageLines, stagedCount, unstageFlagged } from './repository.js';
import type { ImportReply } from './schemas.js';

/**
 * `POST /v1/carrier-usage` and `npm run import-carrier-usage`: a carrier file, streamed line by line in
 * bounded memory (one line of at most 4 KiB, one batch of staged lines, the first {@link MAX_REPORTED_ERRORS}
 * errors), staged in its own transaction, checked, and applied in that transaction only when it is valid
 * (or `partial`). Idempotent per (file id, line): the same file id with the same bytes changes nothing; with
 * other bytes only lines not applied before are applied, and a line that changed is refused.
 */

/** Lines staged per INSERT. */
const STAGE_BATCH = 2_000;
/** Bad lines reported one by one; beyond, only counted (the reply stays bounded for a file of bad lines). */
export const MAX_REPORTED_ERRORS = 1_000;
/** Largest file taken (bytes): a million lines are about 60 MB. */
export const MAX_FILE_BYTES = 1024 * 1024 * 1024;

export interface ImportDeps {
  pool: Pool;
  clock: Clock;
  /** CARRIER_TIMEZONE: the zone the file's dates are in */
  carrierTimezone: string;
}

export interface ImportRequest {
  /** the caller's file id; null: `sha256:<hex of the bytes>` */
  fileId: string | null;
  partial: boolean;
  /** who imports, for the file row */
  by: string;
}

/** A file that is not valid: nothing was applied. Its reply lists the bad lines. */
export class ImportRejected extends AppError {
  constructor(readonly reply: ImportReply) {
    const partialHint = reply.rejectedCount > 0 && reply.lines > 0 ? ' (?partial=true applies the good lines)' : '';
    super('INVALID_FILE', `${reply.rejectedCount} bad line(s) of ${reply.lines}; nothing was applied${partialHint}`, 422);
    this.name = 'ImportRejected';
  }
}

class ErrorList {
  readonly list: LineError[] = [];
  count = 0;
  add(error: LineError): void {
    this.count += 1;
    if (this.list.length < MAX_REPORTED_ERRORS) this.list.push(error);
  }
  /** The reported errors in line order, at most MAX_REPORTED_ERRORS of the lowest line numbers seen. */
  sorted(): LineError[] {
    return [...this.list].sort((a, b) => a.line - b.line).slice(0, MAX_REPORTED_ERRORS);
  }
}

async function* hashed(source: AsyncIterable<Buffer | string>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const input of source) {
    const chunk = typeof input === 'string' ? Buffer.from(input) : input;
    total += chunk.length;
    if (total > MAX_FILE_BYTES) throw new AppError('PAYLOAD_TOO_LARGE', `a carrier file is at most ${MAX_FILE_BYTES} bytes; split it`, 413);
    hash.update(chunk);
    yield chunk;
  }
}

export async function importCarrierUsage(deps: ImportDeps, source: AsyncIterable<Buffer | string>, request: ImportRequest): Promise<ImportReply> {
  const hash = createHash('sha256');
  const errors = new ErrorList();
  const latestDay = dayOf(deps.clock.now(), deps.carrierTimezone);
  return withTransaction(deps.pool, async (client) => {
    await createStage(client);
    let header: CarrierHeader | null = null;
    let lines = 0;
    let batch: CarrierLine[] = [];
    for await (const raw of splitLines(hashed(source, hash))) {
      const text = raw.tooLong ? null : decodeLine(raw.bytes);
      if (header === null) {
        const parsed = raw.tooLong ? { ok: false as const, message: 'the header row is longer than 4096 bytes' } : text === null ? { ok: false as const, message: 'the header row is not UTF-8' } : parseHeader(text);
        if (!parsed.ok) {
          errors.add({ line: raw.line, code: 'INVALID_HEADER', message: parsed.message });
          break;
        }
        header = parsed.header;
        continue;
      }
      if (text !== null && text.trim() === '') continue;
      lines += 1;
      if (raw.tooLong) {
        errors.add({ line: raw.line, code: 'LINE_TOO_LONG', message: 'the line is longer than 4096 bytes' });
        continue;
      }
      if (text === null) {
        errors.add({ line: raw.line, code: 'INVALID_UTF8', message: 'the line is not valid UTF-8' });
        continue;
      }
      const parsed = parseLine(header, raw.line, text, latestDay);
      if (!parsed.ok) {
        errors.add(parsed.error);
        continue;
      }
      batch.push(parsed.value);
      if (batch.length >= STAGE_BATCH) {
        await stageLines(client, batch);
        batch = [];
      }
    }
    await stageLines(client, batch);
    const sha256 = hash.digest();
    const fileId = request.fileId ?? `sha256:${sha256.toString('hex')}`;
    const reply = (fields: Partial<ImportReply>): ImportReply => ({
      fileId,
      duplicate: false,
      lines,
      applied: 0,
      alreadyApplied: 0,
      days: 0,
      corrections: 0,
      ignoredColumns: header ? [...header.ignored] : [],
      rejectedCount: errors.count,
      rejected: errors.sorted(),
      ...fields,
    });
    if (header === null) {
      if (errors.count === 0) errors.add({ line: 1, code: 'INVALID_HEADER', message: 'the file is empty: it needs a header row' });
      throw new ImportRejected(reply({ rejectedCount: errors.count, rejected: errors.sorted() }));
    }

    const file = await lockFile(client, { fileId, sha256, lines, at: new Date(deps.clock.now()), by: request.by });
    if (!file.created && file.sha256.equals(sha256)) return reply({ duplicate: true });
    const duplicates = await duplicateStagedLines(client, MAX_REPORTED_ERRORS);
    for (const d of duplicates.lines) errors.add({ line: d.line, code: 'DUPLICATE_LINE', message: `repeats line ${d.first} (same card, date, apn and rating group)` });
    errors.count += duplicates.total - duplicates.lines.length;
    if (!file.created) {
      const changed = await changedStagedLines(client, file.id, MAX_REPORTED_ERRORS);
      for (const c of changed.lines) errors.add({ line: c.line, code: 'LINE_CHANGED', message: `file ${fileId} was imported before with other content on this line; send a corrected file under a new file id` });
      errors.count += changed.total - changed.lines.length;
    }
    if (errors.count > 0 && !request.partial) throw new ImportRejected(reply({ rejectedCount: errors.count, rejected: errors.sorted() }));
    if (errors.count > 0) await unstageFlagged(client, file.id);
    const staged = await stagedCount(client);
    const applied = await applyStaged(client, file.id, new Date(deps.clock.now()));
    return reply({ applied: applied.applied, alreadyApplied: staged - applied.applied, days: applied.days, corrections: applied.corrections, rejectedCount: errors.count, rejected: errors.sorted() });
  });
}
