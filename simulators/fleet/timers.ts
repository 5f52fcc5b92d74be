/**
 * The clock and timers a vehicle runs on: real ones in the simulator, a manual one in unit tests, so
 * resend timeouts and backoff are tested without waiting and without wall-clock thresholds.
 */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ManualTimers extends Timers {
  /** Moves the clock forward, running every timer that falls due on the way, in time order. */
  advance(ms: number): void;
  /** timers still scheduled */
  pending(): number;
}

export function manualTimers(startMs: number): ManualTimers {
  let now = startMs;
  let nextId = 1;
  const scheduled = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      scheduled.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      scheduled.delete(handle as number);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | null = null;
        for (const entry of scheduled) if (entry[1].at <= until && (first === null || entry[1].at < first[1].at || (entry[1].at === first[1].at && entry[0] < first[0]))) first = entry;
        if (first === null) break;
        scheduled.delete(first[0]);
        now = Math.max(now, first[1].at);
        first[1].fn();
      }
      now = until;
    },
    pending: () => scheduled.size,
  };
}
