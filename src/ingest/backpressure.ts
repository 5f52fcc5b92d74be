/**
 * The ingest gate (issue 11): a bound on the payload bytes ingest holds — submitted and not yet written
 * (committed or dead-lettered, with the ack handed to the broker). Above the high water the gate closes
 * and the broker edge stops taking usage (src/mqtt: the embedded broker holds the publish, and so stops
 * reading that device's socket; the external-broker client holds its PUBACK and with it the connection);
 * it reopens at half, so that it does not flap with every batch. Pure: no I/O, no clock, no timers.
 *
 * A message is admitted while the gate is open, whatever its size, so pending bytes never exceed the
 * high water by more than one message. A message that finds the gate closed waits in line; when the gate
 * reopens the line is admitted in order, each admission possibly closing it again, so the order in which
 * messages were offered is the order they reach ingest (a vehicle's messages are allocated in order).
 */

export interface GateOptions {
  /** the high water: above it the gate closes (INGEST_MAX_PENDING_BYTES) */
  maxPendingBytes: number;
  /** at or below it a closed gate reopens; default half the high water */
  lowWaterBytes?: number;
  /** called on every change of state, after it happened (metrics, logs) */
  onChange?(open: boolean, gate: GateState): void;
}

export interface GateState {
  readonly open: boolean;
  /** payload bytes of the admitted messages not yet released */
  readonly pendingBytes: number;
  /** messages offered and not yet admitted (held at the broker edge) */
  readonly waiting: number;
  /** times the gate closed since it was made */
  readonly closures: number;
  readonly maxPendingBytes: number;
  readonly lowWaterBytes: number;
}

/** One message's place in the gate. */
export interface GateTicket {
  readonly bytes: number;
  /** true once the message was admitted */
  readonly admitted: boolean;
  /**
   * Admitted: ingest no longer holds the message, its bytes leave the gate. Still waiting: it leaves the
   * line and is never admitted (its connection closed). Idempotent: a second call changes nothing.
   */
  release(): void;
}

export interface BackpressureGate extends GateState {
  /**
   * Offers a message of `bytes`. `admitted` runs once it may go on to ingest: at once (before this returns)
   * while the gate is open and nobody waits, else when its turn comes, from inside another ticket's release.
   */
  enter(bytes: number, admitted: (ticket: GateTicket) => void): GateTicket;
}

interface Entry extends GateTicket {
  admitted: boolean;
  released: boolean;
  onAdmitted: ((ticket: GateTicket) => void) | null;
}

export function createBackpressureGate(options: GateOptions): BackpressureGate {
  const high = options.maxPendingBytes;
  const low = options.lowWaterBytes ?? Math.floor(high / 2);
  if (!Number.isSafeInteger(high) || high < 1) throw new RangeError(`maxPendingBytes must be a positive integer, got ${high}`);
  if (!Number.isSafeInteger(low) || low < 0 || low > high) throw new RangeError(`lowWaterBytes must be an integer from 0 to maxPendingBytes (${high}), got ${low}`);
  let open = true;
  let pending = 0;
  // The line, oldest first; `head` advances instead of shift(), so a long line costs O(1) per admission.
  // Withdrawn entries stay until reached (or until they are most of it, see withdraw()).
  let line: Array<Entry | null> = [];
  let head = 0;
  let waiting = 0;
  let withdrawn = 0;
  let dispatching = false;
  let closures = 0;

  const state = {
    get open() {
      return open;
    },
    get pendingBytes() {
      return pending;
    },
    get waiting() {
      return waiting;
    },
    get closures() {
      return closures;
    },
    maxPendingBytes: high,
    lowWaterBytes: low,
  };

  /**
   * Reopens at the low water and admits the line in order while the gate is open; an admission that takes
   * pending bytes above the high water closes it. One loop at a time: a callback that enters or releases
   * (or an onChange that does) only changes the counters and the line, and this loop goes on from there.
   */
  function pump(): void {
    if (dispatching) return;
    dispatching = true;
    try {
      for (;;) {
        if (!open && pending <= low) {
          open = true;
          options.onChange?.(true, state);
        }
        if (!open || head === line.length) break;
        const entry = line[head]!;
        line[head++] = null;
        if (entry.released) {
          withdrawn--;
          continue;
        }
        waiting--;
        entry.admitted = true;
        pending += entry.bytes;
        if (pending > high) {
          open = false;
          closures++;
          options.onChange?.(false, state);
        }
        const callback = entry.onAdmitted!;
        entry.onAdmitted = null;
        callback(entry);
      }
    } finally {
      dispatching = false;
      if (head === line.length) {
        line = [];
        head = 0;
      } else if (head > 1024 && head * 2 > line.length) {
        line = line.slice(head);
        head = 0;
      }
    }
  }

  /** A waiting entry leaves the line (its connection closed); the line is compacted when mostly withdrawn. */
  function withdraw(): void {
    waiting--;
    withdrawn++;
    if (!dispatching && withdrawn > 1024 && withdrawn * 2 > line.length - head) {
      line = line.slice(head).filter((entry) => entry !== null && !entry.released);
      head = 0;
      withdrawn = 0;
    }
  }

  return Object.defineProperties(
    {
      enter(bytes: number, onAdmitted: (ticket: GateTicket) => void): GateTicket {
        if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`bytes must be a non-negative integer, got ${bytes}`);
        const entry: Entry = {
          bytes,
          admitted: false,
          released: false,
          onAdmitted,
          release() {
            if (entry.released) return;
            entry.released = true;
            if (!entry.admitted) {
              entry.onAdmitted = null; // what it would have delivered (the payload) can go now
              withdraw();
              return;
            }
            pending -= entry.bytes;
            pump();
          },
        };
        line.push(entry);
        waiting++;
        pump();
        return entry;
      },
    },
    Object.getOwnPropertyDescriptors(state),
  ) as BackpressureGate;
}
