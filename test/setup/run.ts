import { existsSync, rmSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

/**
 * One test run's directory, `.data/test-runs/<id>/`: what its test files share (the PostgreSQL cluster, the
 * build check), each made once by whichever file needs it first (test/setup/once.ts).
 *
 * Which run: under tap every test file (and the `after` script, test/setup/after.ts) is a child of the same
 * tap runner, so the runner's pid names the run and concurrent runs (two terminals) never share anything. A
 * file run with plain node (`node --import=tsx test/integration/x.test.ts`) has no runner: the run is that
 * process alone, and what it started goes with it (see cluster.ts).
 */
export const RUNS_DIR = path.join(PROJECT_ROOT, '.data', 'test-runs');

/** Set by tap in the environment of each test file it spawns (not in its `after` script's). */
export const UNDER_TAP_RUNNER = process.env.TAP_CHILD_ID !== undefined;
export const RUN_ID = String(UNDER_TAP_RUNNER ? process.ppid : process.pid);

export const runDir = (runId = RUN_ID) => path.join(RUNS_DIR, runId);

const exitSteps: Array<() => void> = [];
let exitHooked = false;

/**
 * Creates this run's directory. A file run without tap is a run of its own: at its exit the steps given to
 * `atExitOfOwnRun` run (last first), then the directory is removed. `exit` handlers are synchronous.
 */
export async function ensureRunDir(): Promise<string> {
  await mkdir(runDir(), { recursive: true });
  if (!UNDER_TAP_RUNNER && !exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const step of exitSteps.reverse()) {
        try {
          step();
        } catch {
          // the next run removes what is left (abandonedRuns)
        }
      }
      removeRunDirSync(RUN_ID);
    });
  }
  return runDir();
}

/** A synchronous step for the exit of a file run without tap (see ensureRunDir); ignored under tap. */
export function atExitOfOwnRun(step: () => void): void {
  if (!UNDER_TAP_RUNNER) exitSteps.push(step);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The directories of runs whose process is gone (killed before they cleaned up), but never this run's. */
export async function abandonedRuns(): Promise<string[]> {
  const entries = await readdir(RUNS_DIR).catch(() => [] as string[]);
  return entries.filter((entry) => entry !== RUN_ID && !(/^\d+$/.test(entry) && isAlive(Number(entry)))).map((entry) => path.join(RUNS_DIR, entry));
}

export async function removeRunDir(runId: string): Promise<void> {
  await rm(runDir(runId), { recursive: true, force: true });
}

export function removeRunDirSync(runId: string): void {
  if (existsSync(runDir(runId))) rmSync(runDir(runId), { recursive: true, force: true });
}
