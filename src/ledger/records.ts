/**
 * The ledger's row shapes, shared by the pure steps of a batch (src/ingest/admission.ts, planning.ts) and
 * the repositories that write them. No I/O here.
 */

/** A usage record's own fields, as normalised at parse time (DESIGN 3.2's comparison basis). */
export interface RecordFields {
  seq: number;
  startMs: number;
  endMs: number;
  up: bigint;
  down: bigint;
  host: string | null;
  ip: string | null;
  port: number | null;
  proto: string | null;
  iface: string;
  pkg: string | null;
}

/** A record to insert: its fields (by reference, not copied) and what receipt and classification added. */
export interface LedgerRecord {
  vin: string;
  epoch: string;
  record: RecordFields;
  app: string;
  ruleId: string;
  /** `catalog_versions.id` */
  catalogVersionId: number;
  batch: number;
  receivedAtMs: number;
}

export const recordKey = (vin: string, epoch: string, seq: number) => `${vin}\u0000${epoch}\u0000${seq}`;

/**
 * A record as stored, without what classification and receipt added: the duplicate comparison's input.
 * `ours`: written by the calling transaction (its xmin is this transaction's id), not by an earlier one.
 */
export type StoredRecord = RecordFields & { vin: string; epoch: string; ours: boolean };

/** The stored versions of the given keys, for the duplicate / SEQ_CONFLICT comparison (DESIGN 3.2). */
export interface AllocationRow {
  month: string;
  day: string;
  vin: string;
  epoch: string;
  seq: number;
  part: number;
  startMs: number;
  app: string;
  payer: string;
  kind: string;
  sponsorshipId: string | null;
  packInstanceId: string | null;
  bytes: bigint;
  pricePerGiB: string | null;
}

export interface DeadLetter {
  vin: string | null;
  topic: string;
  code: string;
  reason: string;
  recordIndex: number | null;
  seq: number | null;
  payload: Buffer;
  receivedAtMs: number;
}


/** DESIGN 3.1: every rejection is stored with its payload, up to 64 KiB. */
export const DEAD_LETTER_PAYLOAD_BYTES = 65_536;

