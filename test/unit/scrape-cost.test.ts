import t from 'tap';
import { Registry } from 'prom-client';
import { cachedFor } from '../../src/shared/cached.js';
import { DATABASE_GAUGE_REFRESH_MS, registerDatabaseGauges } from '../../src/shared/metrics.js';

// Issue 10: probes and scrapes cost no database work per request beyond a cheap check, however many come.

t.test('cachedFor: one run for concurrent callers, reused for maxAge, then run again', async (t) => {
  let now = 0;
  let runs = 0;
  const release: Array<() => void> = [];
  const check = cachedFor(() => new Promise<number>((resolve) => release.push(() => resolve(++runs))), 1000, () => now);
  const waiting = Array.from({ length: 50 }, () => check());
  t.equal(release.length, 1, '50 concurrent callers, one run');
  release.shift()!();
  t.same(await Promise.all(waiting), Array(50).fill(1));
  now = 999;
  t.equal(await check(), 1, 'reused within maxAge');
  t.equal(release.length, 0);
  now = 1000;
  const next = check();
  t.equal(release.length, 1, 'run again after maxAge');
  release.shift()!();
  t.equal(await next, 2);
});

t.test('the outbox gauge: one query per interval however often it is scraped; an outage does not hold scrapes', async (t) => {
  let now = 0;
  let queries = 0;
  let answer: () => Promise<{ messages: number; oldestSeconds: number }> = async () => ({ messages: 3, oldestSeconds: 12 });
  const pool = { totalCount: 2, idleCount: 1, waitingCount: 0 };
  const registry = new Registry();
  registerDatabaseGauges(registry, pool, () => (queries++, answer()), () => now);
  const scrape = async () => (await registry.metrics()).split('\n').filter((line) => line.startsWith('outbox_backlog{')).join('\n');

  t.match(await scrape(), /outbox_backlog\{measure="messages"\} 3\n.*oldest_seconds"\} 12$/);
  for (let i = 0; i < 100; i++) await scrape();
  t.equal(queries, 1, '101 scrapes, one query');
  now = 5000;
  t.match(await scrape(), /oldest_seconds"\} 17$/, 'the oldest message ages between readings');
  t.equal(queries, 1);

  now = DATABASE_GAUGE_REFRESH_MS;
  answer = () => new Promise(() => undefined); // the database does not answer
  t.match(await scrape(), /messages"\} 3/, 'a scrape during an outage answers at once with the last reading');
  t.equal(queries, 2, 'one refresh started');
  for (let i = 0; i < 20; i++) await scrape();
  t.equal(queries, 2, 'and no more while it hangs');
});
