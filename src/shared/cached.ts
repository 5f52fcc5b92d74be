/**
 * `load`, run at most once per `maxAgeMs` however often it is asked for: callers while it runs share that
 * run, and callers within `maxAgeMs` after it settled get its result (a rejection too — wrap `load` to
 * turn failures into values). For probes such as readiness, so a flood of requests is one query.
 * Monotonic time, not the business clock.
 */
export function cachedFor<T>(load: () => Promise<T>, maxAgeMs: number, now: () => number = () => performance.now()): () => Promise<T> {
  let last: Promise<T> | null = null;
  let running = false;
  let settledAtMs = 0;
  return () => {
    if (last && (running || now() - settledAtMs < maxAgeMs)) return last;
    running = true;
    last = load().finally(() => {
      running = false;
      settledAtMs = now();
    });
    return last;
  };
}
