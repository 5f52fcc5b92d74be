import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { isAlive } from './run.js';

/**
 * Runs `work` once among every process that calls this with the same `base` path (test files run in
 * parallel): the first takes `${base}.lock` (created exclusively, holding its pid), runs `work` and marks
 * `${base}.done`; the others wait for the mark. A holder that died without marking is noticed by its pid and
 * the next process runs `work` again. There is no deadline here: the wait ends when the work does, and a hang
 * is bounded by tap's per-file timeout, whatever the machine's speed.
 */
export async function onceAcrossProcesses(base: string, work: () => Promise<void>): Promise<void> {
  const lock = `${base}.lock`;
  const done = `${base}.done`;
  for (;;) {
    if (existsSync(done)) return;
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // An empty file is a holder between creating and writing it: wait like for any other holder.
      const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (holder > 0 && !isAlive(holder)) await rm(lock, { force: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    try {
      if (!existsSync(done)) {
        await work();
        await writeFile(done, String(process.pid));
      }
    } finally {
      await rm(lock, { force: true });
    }
    return;
  }
}
