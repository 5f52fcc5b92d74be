import type { Logger } from 'pino';

/**
 * Runs `step` at once and then every `intervalMs`, never two at a time; a failed run is logged and the
 * next one tries again. Jobs read the clock inside `step`, so nothing here caches a date.
 */
export function startPeriodicJob(name: string, step: () => Promise<unknown>, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    running = step()
      .then(() => undefined)
      .catch((error: unknown) => logger.warn({ job: name, err: error instanceof Error ? error.message : String(error) }, 'periodic job failed; will retry'))
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
