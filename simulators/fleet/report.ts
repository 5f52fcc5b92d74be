import type { FleetProgress, FleetSummary } from './fleet.js';

/** Human output of the simulator: a progress line and the summary. Pure formatting, no I/O. */

const n = (x: number) => x.toLocaleString('en-US');
const ms = (x: number | null) => (x === null ? '—' : `${x.toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`);

export function formatProgressBar(p: FleetProgress, width = 24): string {
  if (p.phase === 'enrolling') return `enrolling vehicles ${n(p.enrolled)}/${n(p.vehicles)}`;
  const done = p.minutesTotal === 0 ? 1 : p.minutesDone / p.minutesTotal;
  const filled = Math.round(done * width);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
  return `[${bar}] ${String(Math.floor(done * 100)).padStart(3)}% ${p.phase} | online ${n(p.connected)}/${n(p.vehicles)} | sent ${n(p.recordsSent)} acked ${n(p.recordsAcked)} | resent msgs ${n(p.messagesResent)} | unacked ${n(p.unacked)} queued ${n(p.queued)}`;
}

export function formatProgressLine(p: FleetProgress): string {
  const seconds = (p.elapsedMs / 1000).toFixed(0);
  if (p.phase === 'enrolling') return `[${seconds}s] enrolling ${p.enrolled}/${p.vehicles}`;
  return `[${seconds}s] ${p.phase} minutes ${p.minutesDone}/${p.minutesTotal} online ${p.connected}/${p.vehicles} sent ${p.recordsSent} acked ${p.recordsAcked} resent-msgs ${p.messagesResent} unacked ${p.unacked} queued ${p.queued}`;
}

export function formatSummary(s: FleetSummary): string {
  const rows: Array<[string, string]> = [
    ['vehicles', `${n(s.vehicles)} (${n(s.drained)} fully acknowledged)`],
    ['simulated', `${s.minutes} min from ${s.simulatedStart} at ${s.speed}× (seed ${s.seed})`],
    ['elapsed', `${(s.elapsedMs / 1000).toFixed(1)} s`],
    ['records sent', n(s.recordsSent)],
    ['records acked', `${n(s.recordsAcked)} (accepted ${n(s.recordsAccepted)}, duplicates ${n(s.recordsDuplicate)})`],
    ['records rejected', `${n(s.recordsRejected)} dropped, ${n(s.recordsRetried)} retried`],
    ['records resent', `${n(s.recordsResent)} in ${n(s.messagesResent)} messages`],
    ['records pending', `${n(s.recordsPending)} (kept in the state file)`],
    ['messages', `${n(s.messagesSent)} sent, ${n(s.messagesAcked)} acked, ${n(s.lateAcks)} late acks`],
    ['acks per second', `${n(s.acksPerSecond)} (${n(s.recordsAckedPerSecond)} records/s)`],
    ['ack latency', `p50 ${ms(s.ackLatencyMs.p50)}  p90 ${ms(s.ackLatencyMs.p90)}  p99 ${ms(s.ackLatencyMs.p99)}  max ${ms(s.ackLatencyMs.max)}`],
    ['connections', `${n(s.connects)} (${n(s.connectFailures)} failed), ${n(s.offlinePeriods)} offline periods, ${n(s.unitSwaps)} unit swaps`],
    ['bytes acked', `${s.bytesAcked.toLocaleString('en-US')}`],
    ['controls', `${n(s.controlsReceived)} received, ${n(s.controlsApplied)} applied; ${n(s.rulesReceived)} rules messages`],
    ['held back', `${s.bytesHeldBack.toLocaleString('en-US')} bytes in ${n(s.recordsHeldBack)} flows of blocked apps (${heldBackByApp(s)})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/** `music 1,234, general 56` — bytes held back per app over the fleet, largest first; `none` when nothing was. */
function heldBackByApp(s: FleetSummary): string {
  const byApp = new Map<string, bigint>();
  for (const v of s.perVehicle) for (const [app, bytes] of Object.entries(v.bytesHeldBackByApp)) byApp.set(app, (byApp.get(app) ?? 0n) + bytes);
  if (byApp.size === 0) return 'none';
  return [...byApp].sort(([, a], [, b]) => (a < b ? 1 : a > b ? -1 : 0)).map(([app, bytes]) => `${app} ${bytes.toLocaleString('en-US')}`).join(', ');
}

/** JSON with bigints as decimal strings (bytes are exact, never floats). */
export function summaryToJson(s: FleetSummary): string {
  return JSON.stringify(s, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2);
}
