import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Process CPU and memory from /proc (Linux): utime + stime of /proc/<pid>/stat (fields 14 and 15, in clock
 * ticks) and VmRSS / VmHWM of /proc/<pid>/status. CPU of a process tree (the service and the PostgreSQL
 * it started) is the sum over the pid and its descendants that are alive at both samples.
 */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface CpuSample {
  /** wall clock, ms */
  atMs: number;
  /** CPU seconds per pid */
  cpu: Map<number, number>;
}

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of one process, null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  const fields = statFields(pid);
  if (!fields) return null;
  // after the name: state(3) ppid(4) … utime(14) stime(15), so index = field − 3
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The pid and every descendant, from the ppid field of /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (!fields) continue;
    const ppid = Number(fields[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export function sampleCpu(pids: readonly number[]): CpuSample {
  const cpu = new Map<number, number>();
  for (const pid of pids) {
    const seconds = cpuSeconds(pid);
    if (seconds !== null) cpu.set(pid, seconds);
  }
  return { atMs: Date.now(), cpu };
}

/**
 * CPU seconds used between two samples, and as % of one core. A pid that appeared after the first sample
 * (a new PostgreSQL backend) counts from zero; one that exited before the second is lost.
 */
export function cpuBetween(a: CpuSample, b: CpuSample, pids?: readonly number[]): { seconds: number; percent: number } {
  let seconds = 0;
  for (const [pid, end] of b.cpu) {
    if (pids && !pids.includes(pid)) continue;
    seconds += end - (a.cpu.get(pid) ?? 0);
  }
  const wall = Math.max(0.001, (b.atMs - a.atMs) / 1000);
  return { seconds, percent: (seconds / wall) * 100 };
}

/** Resident set size and its peak (VmHWM), MiB; null when the process is gone. */
export function memoryMiB(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Samples RSS every `intervalMs` and keeps the maximum (VmHWM is since start; this is per phase). */
export function rssWatcher(pid: number, intervalMs = 200) {
  let max = 0;
  const tick = () => {
    const m = memoryMiB(pid);
    if (m) max = Math.max(max, m.rss);
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    stop(): number {
      clearInterval(timer);
      tick();
      return max;
    },
  };
}
