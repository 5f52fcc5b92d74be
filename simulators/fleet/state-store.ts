import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { SimRecord, UsageMessage } from './usage-message.js';

/**
 * What a T-Box keeps in flash, for the whole simulated fleet, in one JSON file:
 *
 * - `epoch` and the seq counter: (vin, epoch, seq) is unique for ever (DESIGN 3.1), so a seq is never
 *   handed out twice in an epoch, across restarts and crashes. Seqs are *leased* in blocks: a block is on
 *   disk before any of its seqs is published, and a restart continues after the last lease (gaps are
 *   allowed), so even a SIGKILLed simulator never reuses a seq with different content.
 * - `nextBatch`: batch numbers keep rising, so they stay unique among unacknowledged messages.
 * - `pending`: messages formed but not yet acknowledged at the last clean stop, resent after a restart
 *   (DESIGN 3.2: records are kept until acked).
 *
 * With no path the store lives in memory only (tests, the benchmark).
 */
const RecordSchema = z.object({
  seq: z.number().int().min(0),
  startMs: z.number().int(),
  endMs: z.number().int(),
  up: z.number().int().min(0),
  down: z.number().int().min(0),
  host: z.string().optional(),
  ip: z.string().optional(),
  port: z.number().int().optional(),
  proto: z.enum(['tcp', 'udp']).optional(),
  iface: z.enum(['tbox', 'hotspot']),
  pkg: z.string().optional(),
  app: z.string(),
});
const VehicleStateSchema = z.object({
  epoch: z.string().regex(/^[A-Za-z0-9-]{1,36}$/),
  /** the next seq to use in `epoch` */
  nextSeq: z.number().int().min(0),
  /** seqs below this are leased (possibly used); a restart starts here */
  seqLease: z.number().int().min(0),
  nextBatch: z.number().int().min(0),
  pending: z.array(z.object({ batch: z.number().int().min(0), epoch: z.string(), records: z.array(RecordSchema).min(1) })),
});
const StateFileSchema = z.object({ version: z.literal(1), vehicles: z.record(z.string(), VehicleStateSchema) });

export type VehicleState = z.infer<typeof VehicleStateSchema>;
export type PendingMessage = UsageMessage & { records: SimRecord[] };

/** Seqs leased per write: a write every 10,000 records per vehicle at most. */
export const SEQ_LEASE_BLOCK = 10_000;

export class StateStore {
  private writing: Promise<void> | null = null;
  /** flush calls so far, and the last of them a finished write covers */
  private requested = 0;
  private written = 0;

  private constructor(
    readonly file: string | null,
    private readonly vehicles: Map<string, VehicleState>,
  ) {}

  /** Opens the state file (a missing file is an empty fleet); null keeps the state in memory. */
  static async open(file: string | null): Promise<StateStore> {
    if (file === null) return new StateStore(null, new Map());
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new StateStore(file, new Map());
      throw error;
    }
    const parsed = StateFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`state file ${file} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return new StateStore(file, new Map(Object.entries(parsed.data.vehicles)));
  }

  /** true when the state is written to a file (seq leases must then reach the disk before use) */
  get durable(): boolean {
    return this.file !== null;
  }

  get(vin: string): VehicleState | undefined {
    const state = this.vehicles.get(vin);
    return state && structuredClone(state);
  }

  /**
   * The state a vehicle starts from: a restart continues after its lease with its epoch; a vehicle never
   * seen (or whose flash was lost) starts at seq 0 of `freshEpoch`, as a T-Box does at first boot.
   */
  resume(vin: string, freshEpoch: string): VehicleState {
    const known = this.get(vin);
    if (known) return { ...known, nextSeq: known.seqLease };
    return { epoch: freshEpoch, nextSeq: 0, seqLease: 0, nextBatch: 1, pending: [] };
  }

  /** Records the state in memory (written by the next `flush`). */
  set(vin: string, state: VehicleState): void {
    this.vehicles.set(vin, structuredClone(state));
  }

  /**
   * Writes the whole fleet atomically (temp file + rename). Resolves once a write that began after this
   * call has finished, so whatever was `set` before the call is on disk; concurrent calls share writes.
   */
  async flush(): Promise<void> {
    if (this.file === null) return;
    const ticket = ++this.requested;
    while (this.written < ticket) {
      this.writing ??= this.writeOnce().finally(() => {
        this.writing = null;
      });
      await this.writing;
    }
  }

  private async writeOnce(): Promise<void> {
    const file = this.file!;
    const covers = this.requested;
    const body = JSON.stringify({ version: 1, vehicles: Object.fromEntries(this.vehicles) });
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, body);
    await rename(temp, file);
    this.written = Math.max(this.written, covers);
  }
}
