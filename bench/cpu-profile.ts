import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and ranks functions by self time, the first question of any
 * throughput investigation: where does the service's one JavaScript thread spend its time?
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface ProfileFrame {
  function: string;
  location: string;
  selfPercent: number;
}

export interface ProfileSummary {
  file: string;
  sampledSeconds: number;
  /** share of samples where the thread was idle (waiting on I/O) */
  idlePercent: number;
  top: ProfileFrame[];
  /** self time grouped by package or source folder */
  byModule: Array<{ module: string; selfPercent: number }>;
}

/** The profile node wrote for process `pid` (its name is CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile). */
export async function profileOf(dir: string, pid: number): Promise<string | null> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.`)).sort();
  return files.length > 0 ? path.join(dir, files[files.length - 1]!) : null;
}

/**
 * `window` keeps the samples taken between `fromMs` and `untilMs` after the profile started (the process
 * start, give or take its bootstrap), so one phase of a run can be looked at alone.
 */
export async function summariseCpuProfile(file: string, options: { top?: number; window?: { fromMs: number; untilMs: number } } = {}): Promise<ProfileSummary> {
  const top = options.top ?? 20;
  const profile = JSON.parse(await readFile(file, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };
  const hits = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  let first = Infinity;
  let last = -Infinity;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    const atMs = (t - profile.startTime) / 1000;
    if (options.window && (atMs < options.window.fromMs || atMs > options.window.untilMs)) return;
    hits.set(id, (hits.get(id) ?? 0) + 1);
    total++;
    first = Math.min(first, t);
    last = Math.max(last, t);
  });
  total ||= 1;
  const byFrame = new Map<string, { fn: string; loc: string; count: number }>();
  const byModule = new Map<string, number>();
  let idle = 0;
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    if (count === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += count;
    const loc = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${loc}`;
    const entry = byFrame.get(key) ?? { fn: functionName || '(anonymous)', loc, count: 0 };
    entry.count += count;
    byFrame.set(key, entry);
    const module = moduleOf(url, functionName);
    byModule.set(module, (byModule.get(module) ?? 0) + count);
  }
  const pct = (n: number) => Math.round((n / total) * 1000) / 10;
  return {
    file,
    sampledSeconds: Number.isFinite(first) ? (last - first) / 1e6 : 0,
    idlePercent: pct(idle),
    top: [...byFrame.values()].sort((a, b) => b.count - a.count).slice(0, top).map((f) => ({ function: f.fn, location: f.loc, selfPercent: pct(f.count) })),
    byModule: [...byModule.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([module, n]) => ({ module, selfPercent: pct(n) })),
  };
}

function shortUrl(url: string): string {
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) return clean.slice(nm + 'node_modules/'.length);
  const dist = clean.indexOf('/dist/');
  return dist >= 0 ? clean.slice(dist + 1) : clean;
}

function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = clean.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const src = /\/dist\/src\/([^/]+)\//.exec(clean);
  if (src) return `src/${src[1]}`;
  if (clean.startsWith('node:')) return 'node (core)';
  return path.basename(clean);
}
