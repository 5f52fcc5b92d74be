import type { Rng } from './prng.js';
import type { UsageMessage } from './usage-message.js';

/**
 * The T-Box side of DESIGN 3.2, as a pure state machine (times are passed in, nothing is scheduled here):
 * at most `maxUnacked` usage messages are unacknowledged; one not acked within `ackTimeoutMs` is resent,
 * and each further resend waits twice as long, up to `maxBackoffMs`, every wait with ±`jitter` so a fleet
 * that lost its acks together does not resend together. After a reconnect every unacked message is resent
 * at once and its wait starts again from `ackTimeoutMs` (the link, not the service, was the problem).
 */
export interface WindowOptions {
  /** DESIGN 3.2: 16 */
  maxUnacked: number;
  /** DESIGN 3.2: 60,000 ms */
  ackTimeoutMs: number;
  /** DESIGN 3.2: 600,000 ms (10 min) */
  maxBackoffMs: number;
  /** DESIGN 3.2: 0.2 (±20 %) */
  jitter: number;
  /** draws the jitter; a stream of its own so resends never shift the traffic */
  rng: Rng;
}

export const PROTOCOL_WINDOW: Omit<WindowOptions, 'rng'> = Object.freeze({ maxUnacked: 16, ackTimeoutMs: 60_000, maxBackoffMs: 600_000, jitter: 0.2 });

export interface InFlight {
  message: UsageMessage;
  payload: string;
  /** first transmission, for the ack latency */
  firstSentMs: number;
  lastSentMs: number;
  /** transmissions so far (1 after the first send) */
  sends: number;
  /** waits since the last reconnect: the backoff exponent */
  waits: number;
  resendAtMs: number;
}

export class UnackedWindow {
  private readonly inFlight = new Map<number, InFlight>();

  constructor(private readonly options: WindowOptions) {
    if (!Number.isInteger(options.maxUnacked) || options.maxUnacked < 1) throw new RangeError(`maxUnacked must be a positive integer, got ${options.maxUnacked}`);
    if (!(options.ackTimeoutMs > 0) || !(options.maxBackoffMs >= options.ackTimeoutMs)) {
      throw new RangeError(`need 0 < ackTimeoutMs ≤ maxBackoffMs, got ${options.ackTimeoutMs} and ${options.maxBackoffMs}`);
    }
    if (!(options.jitter >= 0 && options.jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${options.jitter}`);
  }

  get size(): number {
    return this.inFlight.size;
  }

  hasRoom(): boolean {
    return this.inFlight.size < this.options.maxUnacked;
  }

  /** The first transmission of a message; refused when the window is full or the batch is already in flight. */
  sent(message: UsageMessage, payload: string, nowMs: number): InFlight {
    if (!this.hasRoom()) throw new Error(`window full: ${this.inFlight.size} messages unacknowledged`);
    // DESIGN 3.1: batch is unique among this T-Box's unacknowledged messages.
    if (this.inFlight.has(message.batch)) throw new Error(`batch ${message.batch} is already unacknowledged`);
    const entry: InFlight = { message, payload, firstSentMs: nowMs, lastSentMs: nowMs, sends: 1, waits: 0, resendAtMs: 0 };
    entry.resendAtMs = nowMs + this.wait(0);
    this.inFlight.set(message.batch, entry);
    return entry;
  }

  get(batch: number): InFlight | undefined {
    return this.inFlight.get(batch);
  }

  /** The ack of `batch` arrived: forget it. Undefined for an ack of nothing unacked (a late duplicate ack). */
  acked(batch: number): InFlight | undefined {
    const entry = this.inFlight.get(batch);
    this.inFlight.delete(batch);
    return entry;
  }

  /** Messages whose wait ran out at `nowMs`: each is counted as resent now and waits twice as long. */
  due(nowMs: number): InFlight[] {
    const due = [...this.inFlight.values()].filter((e) => e.resendAtMs <= nowMs).sort((a, b) => a.message.batch - b.message.batch);
    for (const entry of due) {
      entry.waits++;
      entry.sends++;
      entry.lastSentMs = nowMs;
      entry.resendAtMs = nowMs + this.wait(entry.waits);
    }
    return due;
  }

  /** After a reconnect: every unacked message is resent now, in batch order; waits start again. */
  resendAll(nowMs: number): InFlight[] {
    const all = this.entries();
    for (const entry of all) {
      entry.waits = 0;
      entry.sends++;
      entry.lastSentMs = nowMs;
      entry.resendAtMs = nowMs + this.wait(0);
    }
    return all;
  }

  /** When the next resend falls due, or null when nothing is unacknowledged. */
  nextDueMs(): number | null {
    let next: number | null = null;
    for (const entry of this.inFlight.values()) if (next === null || entry.resendAtMs < next) next = entry.resendAtMs;
    return next;
  }

  entries(): InFlight[] {
    return [...this.inFlight.values()].sort((a, b) => a.message.batch - b.message.batch);
  }

  /** The wait before resend number `n + 1`: ackTimeout · 2^n, at most maxBackoff, ±jitter. */
  private wait(n: number): number {
    const { ackTimeoutMs, maxBackoffMs, jitter, rng } = this.options;
    const base = Math.min(maxBackoffMs, ackTimeoutMs * 2 ** Math.min(n, 30));
    return Math.round(base * (1 + jitter * (2 * rng.float() - 1)));
  }
}
