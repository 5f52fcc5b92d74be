import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The project root (the folder holding package.json), whether running from src/ with tsx or from dist/. */
export const PROJECT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'migrations'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`project root not found above ${start}`);
  }
}

const PackageScriptsSchema = z.object({ scripts: z.object({ start: z.string().optional() }).optional() });

/**
 * The node flags of `npm start` (package.json `scripts.start`), for the bench and tests that spawn the
 * built service "exactly as `npm start` does": one place says how the service runs.
 */
export function startNodeFlags(): string[] {
  const pkg = PackageScriptsSchema.parse(JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')));
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  if (words[0] !== 'node') throw new Error(`package.json scripts.start must start with node, got ${JSON.stringify(pkg.scripts?.start)}`);
  return words.slice(1).filter((word) => word.startsWith('--'));
}
