import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { onceAcrossProcesses } from './once.js';
import { ensureRunDir } from './run.js';

/**
 * The end-to-end tests run the built service (`dist/`, what `npm start` runs). `npm test` builds first
 * (`pretest`); a file run alone (`npx tap test/e2e/crash-safety.test.ts`) gets the build here instead when
 * `dist/` is missing or older than its sources: once per run, whichever file needs it first.
 */
const SOURCES = ['src', 'simulators', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
const BUILT = path.join(PROJECT_ROOT, 'dist/src/server.js');

async function newestMtime(entry: string): Promise<number> {
  const info = await stat(entry);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const child of await readdir(entry)) newest = Math.max(newest, await newestMtime(path.join(entry, child)));
  return newest;
}

async function isStale(): Promise<boolean> {
  const built = await stat(BUILT).then((s) => s.mtimeMs, () => null);
  if (built === null) return true;
  for (const source of SOURCES) if ((await newestMtime(path.join(PROJECT_ROOT, source))) > built) return true;
  return false;
}

let built: Promise<void> | null = null;

export function ensureBuilt(): Promise<void> {
  built ??= (async () => {
    if (!(await isStale())) return;
    const dir = await ensureRunDir();
    await onceAcrossProcesses(path.join(dir, 'build'), async () => {
      if (!(await isStale())) return;
      const tsc = path.join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc');
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PROJECT_ROOT }, (error, stdout, stderr) =>
          error ? reject(new Error(`npm run build failed:\n${stdout}${stderr}`)) : resolve(),
        ),
      );
    });
  })();
  return built;
}
