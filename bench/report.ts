/** The benchmark's table, from results.json's shape. Pure formatting. */

const n = (x: unknown, digits = 0) => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—');
const ms = (x: unknown) => (typeof x === 'number' ? `${n(x, 1)} ms` : '—');
const pct = (x: unknown) => (typeof x === 'number' ? `${Math.round(x * 100)} %` : '—');
const verdict = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'met' : 'NOT met');

export function formatReport(r: Record<string, any>): string {
  const e = r.endToEnd ?? {};
  const raw = r.raw ?? {};
  const ratios = r.ratios ?? {};
  const quick = r.mode === 'quick';
  const lines: string[] = [];
  const row = (label: string, value: string, target = '') => lines.push(`  ${label.padEnd(54)} ${value.padEnd(46)} ${target}`);
  lines.push('');
  lines.push(`tbox-billing benchmark (${r.mode}) — ${r.machine.cpus} CPUs (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}`);
  lines.push(`service: dist/src/server.js with ${r.settings.database}; load generator in its own process; all on this machine`);
  if (r.machine.loadAverageAtStart) lines.push(`load average before / after the run: ${r.machine.loadAverageAtStart.join(' ')} / ${(r.machine.loadAverageAtEnd ?? []).join(' ')} (other work on the machine lowers every figure)`);
  lines.push('');
  lines.push(`  ${''.padEnd(54)} ${'measured'.padEnd(46)} target (issue 11)`);
  lines.push('End to end: published → committed → acked, 50-record messages');
  const maxTarget = quick || typeof e.recordsPerSecond !== 'number' ? null : e.recordsPerSecond >= 50_000;
  row('max throughput', `${n(e.recordsPerSecond)} records/s`, `≥ 50,000 records/s: ${quick ? 'n/a (quick)' : verdict(maxTarget)}`);
  if (raw.pgFloorRecordsPerSecond) {
    // The exactly-once floor (bench/floor.ts): PostgreSQL alone writing only (vin, epoch, seq, bytes) under its key.
    row('  exactly-once floor: INSERT … ON CONFLICT, 1 conn.', `${n(raw.pgFloorRecordsPerSecond)} records/s (PostgreSQL alone)`, `end to end = ${pct(ratios.endToEndVsFloor)}; ≥ 50 %: ${verdict(typeof ratios.endToEndVsFloor === 'number' ? ratios.endToEndVsFloor >= 0.5 : null)}`);
    row('    the same narrow rows by COPY', `${n(raw.pgFloorCopyRecordsPerSecond)} records/s`);
    row('    the INSERT floor on 4 connections', `${n(raw.pgFloorParallel4RecordsPerSecond)} records/s`);
  }
  row(`  ack latency at max load (${n(e.maxLoadVehicles)} vehicles × ${n(e.maxLoadWindow)} unacked)`, e.maxLoadAckLatencyMs ? `p50 ${ms(e.maxLoadAckLatencyMs.p50)}, p99 ${ms(e.maxLoadAckLatencyMs.p99)}` : '—');
  if (e.overload) row(`  overload: ${n(e.overload.window)} unacked per vehicle`, `${n(e.overload.recordsPerSecond)} records/s, p50 ${ms(e.overload.ackP50Ms)}, RSS ${n(e.overload.serviceRssMiB)} MiB`);
  const p99Target = quick || typeof e.ackP99Ms !== 'number' ? null : e.offeredRecordsPerSecond >= 20_000 && e.ackP99Ms <= 100 && e.ackedRecordsPerSecond >= 0.95 * e.offeredRecordsPerSecond;
  row(`ack latency at ${n(e.offeredRecordsPerSecond)} records/s offered`, `p50 ${ms(e.ackP50Ms)}, p99 ${ms(e.ackP99Ms)}, max ${ms(e.ackMaxMs)}`, `p99 ≤ 100 ms at 20,000/s: ${quick ? 'n/a (quick: scaled down)' : verdict(p99Target)}`);
  row('  acked at that load', `${n(e.ackedRecordsPerSecond)} records/s${e.blockedMessages ? ` (${n(e.blockedMessages)} messages held back: windows full)` : ''}`);
  if (e.batches) row('  batches at max load (service metrics)', `${n(e.batches.perSecond, 1)}/s × ${n(e.batches.recordsPerBatch)} records, ${n(e.batches.commitMs, 1)} ms each; lanes busy ${n(e.batches.writerBusyPercent)} % (summed over INGEST_LANES: 100 % = one lane always in a transaction)`);
  const cpu = e.cpuSecondsPer100kRecords ?? {};
  row('CPU per 100k records (max load)', `service ${n(cpu.service, 2)} s, PostgreSQL ${n(cpu.postgres, 2)} s, load gen ${n(cpu.loadGenerator, 2)} s`);
  row('CPU during max load (% of one core)', `service ${n(e.serviceCpuPercent)} %, PostgreSQL ${n(e.postgresCpuPercent)} %`);
  row('service RSS, peak during max load', `${n(e.serviceRssMiB)} MiB`);
  lines.push('Raw limits, measured in the same run');
  row('broker alone (aedes, QoS 1 pub → sub)', `${n(raw.brokerRecordsPerSecond)} records/s`, `end to end = ${pct(ratios.endToEndVsBroker)} of it`);
  if (raw.pgCopyRowsPerSecond) {
    row('PostgreSQL alone: COPY of the same ledger rows', `${n(raw.pgCopyRowsPerSecond)} records/s (${n(raw.pgCopyTableRowsPerSecond)} rows/s)`, `end to end = ${pct(ratios.endToEndVsPgCopy)} of it`);
  }
  if (raw.pgInsertUnnest) {
    row("  INSERT … unnest (the service's statements)", `${n(raw.pgInsertUnnest.recordsPerSecond)} records/s (${n(raw.pgInsertUnnest.rowsPerSecond)} rows/s)`, `end to end = ${pct(ratios.endToEndVsPgInsertUnnest)} of it`);
  }
  if (Array.isArray(r.scaling) && r.scaling.length > 0) {
    lines.push('Scaling: connected vehicles, each reports one 50-record message per step');
    lines.push(`  ${'vehicles'.padStart(9)} ${'connect s'.padStart(10)} ${'RSS idle'.padStart(9)} ${'RSS peak'.padStart(9)} ${'CPU %'.padStart(6)} ${'PG CPU %'.padStart(9)} ${'acked'.padStart(7)} ${'ack p99'.padStart(10)}`);
    for (const s of r.scaling) {
      lines.push(`  ${n(s.vehicles).padStart(9)} ${n(s.connectSeconds, 1).padStart(10)} ${`${n(s.rssIdleMiB)} MiB`.padStart(9)} ${`${n(s.rssMiB)} MiB`.padStart(9)} ${n(s.cpuPercent).padStart(6)} ${n(s.postgresCpuPercent).padStart(9)} ${n(s.messagesAcked).padStart(7)} ${ms(s.ackP99Ms).padStart(10)}`);
    }
    const last = r.scaling[r.scaling.length - 1];
    const rssTarget = last.vehicles >= 10_000 ? last.rssMiB <= 500 : null;
    lines.push(`  ${'10,000 connected vehicles, RSS ≤ 500 MiB'.padEnd(54)} ${''.padEnd(46)} ${quick ? 'n/a (quick: 1,000 vehicles)' : verdict(rssTarget)}`);
  }
  if (r.outage) {
    // bench/outage.ts (issue 11): the database stalled, far more usage offered than INGEST_MAX_PENDING_BYTES.
    const o = r.outage;
    lines.push(`Outage: database stalled ${n(o.stalledSeconds, 1)} s, ${n(o.messagesOffered)} messages (${n(o.offeredMiB)} MiB) offered by ${n(o.vehicles)} vehicles at once`);
    row('  service RSS while stalled (before → peak)', `${n(o.rssBeforeMiB)} → ${n(o.peakRssMiB)} MiB; pending ${n(o.peakPendingMiB, 1)} MiB, gate ${o.gateClosed ? 'closed' : 'never closed'}`, `bound ${n(o.boundMiB)} MiB of payload`);
    row('  after the database returns: acked', `${n(o.recoveredAcked)} / ${n(o.messagesOffered)} in ${n(o.recoverySeconds, 1)} s`, `all acked: ${verdict(o.recoveredAcked === o.messagesOffered)}`);
    row('  service RSS peak while catching up', `${n(o.recoveryPeakRssMiB)} MiB`);
  }
  if (r.exactlyOnce) {
    lines.push(`Ledger check: ${n(r.exactlyOnce.ledgerRecords)} records in usage_records, ${n(r.exactlyOnce.acceptedByAcks)} accepted by acks: ${r.exactlyOnce.equal ? 'equal' : 'DIFFERENT'}`);
  }
  if (r.heldBack) {
    lines.push(
      r.heldBack.obeyControls
        ? `Held back by the load's vehicles (controls obeyed, DESIGN 3.3): ${n(r.heldBack.bytes)} bytes in ${n(r.heldBack.records)} flows of blocked apps, never sent`
        : 'Held back: nothing (--ignore-controls: the vehicles sent the flows of blocked apps too)',
    );
  }
  if (r.profile) {
    lines.push(`Service CPU profile (${n(r.profile.sampledSeconds, 1)} s, idle ${r.profile.idlePercent} %), top self time:`);
    for (const f of r.profile.top.slice(0, 12)) lines.push(`  ${String(f.selfPercent).padStart(5)} %  ${f.function}  ${f.location}`);
    lines.push(`  by module: ${r.profile.byModule.slice(0, 8).map((m: any) => `${m.module} ${m.selfPercent} %`).join(', ')}`);
  }
  return lines.join('\n');
}
