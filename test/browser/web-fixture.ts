import type { LightMyRequestResponse } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { manualClock, startTestService, type TestService } from '../helpers/service.js';

/**
 * A billing month for the web tests (inject-based in test/integration/web-*.test.ts and the browser tests
 * here), against the demo catalog in sponsors/: two A7 vehicles with navigation (amap, 4.00/GB, 3,072 MiB
 * cap), music (qqmusic, 5.00/GB, 1,024 MiB cap, then overage to oem-acme at 8.00), FM (ximalaya) and
 * telemetry (oem-acme) in October — closed and invoiced — and in November, the month to date.
 */

export const GIB = 1n << 30n;
export const NOW = Date.parse('2026-11-15T12:00:00+08:00');
/** The record "explain this charge" is tested with: music beyond the cap, so qqmusic and oem-acme share it. */
export const SPLIT_RECORD = { seq: 2001, epoch: 'boot-7', bytes: GIB + 5n };

export interface WebFixture {
  svc: TestService;
  clock: ReturnType<typeof manualClock>;
  /** car A (seq 1–13 in epoch "0", and {@link SPLIT_RECORD}) and car B */
  cars: [Car, Car];
  keys: { amap: string; qqmusic: string; oem: string; ximalaya: string };
}

interface Car {
  vin: string;
  iccid: string;
  deviceSecret: string;
}

interface RecordSpec {
  seq: number;
  start: string;
  bytes: bigint;
  host: string;
}

export async function startWebFixture(t: { teardown(fn: () => unknown): void }): Promise<WebFixture> {
  const clock = manualClock(NOW);
  const svc = await startTestService(t, {}, clock);
  const cars: [Car, Car] = [await svc.registerVehicle(undefined, { model: 'A7' }), await svc.registerVehicle(undefined, { model: 'A7' })];

  async function publish(car: Car, epoch: string, records: RecordSpec[]) {
    const client = await svc.connectDevice(car.vin, car.deviceSecret);
    try {
      const body = records.map((r) => ({ seq: r.seq, start: r.start, end: r.start, up: 1000, down: Number(r.bytes - 1000n), host: r.host, port: 443, proto: 'tcp' }));
      await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: records[0]!.seq, epoch, records: body }), { qos: 1 });
    } finally {
      await client.endAsync();
    }
  }

  const [a, b] = cars;
  await publish(a, '0', [
    { seq: 1, start: '2026-10-05T09:00:00+08:00', bytes: 1_500_000_007n, host: 'tile.amap.com' },
    { seq: 2, start: '2026-10-06T09:00:00+08:00', bytes: 536_870_913n, host: 'a.xmcdn.com' },
    { seq: 3, start: '2026-10-07T09:00:00+08:00', bytes: 900_000_001n, host: 'u.y.qq.com' },
    { seq: 4, start: '2026-10-08T09:00:00+08:00', bytes: 123_456_789n, host: 'telemetry.acme-motor.cn' },
  ]);
  const closed = await svc.request('POST', '/v1/billing/periods/2026-10/close');
  if (closed.status !== 200) throw new Error(`close failed: ${closed.status} ${JSON.stringify(closed.body)}`);

  await publish(a, '0', [
    { seq: 10, start: '2026-11-02T08:00:00+08:00', bytes: 2_000_000_011n, host: 'tile.amap.com' },
    { seq: 11, start: '2026-11-10T20:30:00+08:00', bytes: 1_400_000_003n, host: 'restapi.amap.com' },
    { seq: 12, start: '2026-11-03T07:00:00+08:00', bytes: 98_765_432n, host: 'telemetry.acme-motor.cn' },
    { seq: 13, start: '2026-11-04T07:00:00+08:00', bytes: 777_777_777n, host: 'www.example.org' },
  ]);
  await publish(a, SPLIT_RECORD.epoch, [{ seq: SPLIT_RECORD.seq, start: '2026-11-12T18:00:00+08:00', bytes: SPLIT_RECORD.bytes, host: 'u.y.qq.com' }]);
  await publish(b, '0', [
    { seq: 1, start: '2026-11-02T09:00:00+08:00', bytes: 1_020_000_000n, host: 'u.y.qq.com' },
    { seq: 2, start: '2026-11-09T09:00:00+08:00', bytes: 333_333_333n, host: 'tile.amap.com' },
    { seq: 3, start: '2026-11-14T23:59:59+08:00', bytes: 44_444_444n, host: 'b.xmcdn.com' },
  ]);

  const key = async (sponsor: string) => {
    const response = await svc.request('POST', `/v1/sponsors/${sponsor}/keys`);
    if (response.status !== 201) throw new Error(`key for ${sponsor}: ${response.status}`);
    return response.body.key as string;
  };
  return { svc, clock, cars, keys: { amap: await key('amap'), qqmusic: await key('qqmusic'), oem: await key('oem-acme'), ximalaya: await key('ximalaya') } };
}

/** Values of `data-<name>="…"` attributes on elements matching `marker` (a substring on the same tag). */
export function dataAttributes(page: string, name: string): string[] {
  return [...page.matchAll(new RegExp(`data-${name}="([^"]*)"`, 'g'))].map((m) => m[1]!);
}

export type Inject = (method: 'GET' | 'POST', url: string, options?: { cookie?: string; form?: Record<string, string>; headers?: Record<string, string> }) => Promise<LightMyRequestResponse>;

export const WEB_HOST = 'billing.test';
let clientCounter = 1;

/**
 * Requests as a browser of this site would make them: Host billing.test, Origin on POSTs (Chromium sends it
 * on every form POST), form-encoded bodies, the session cookie when given.
 */
export function browserLike(svc: TestService): Inject {
  return (method, url, options = {}) =>
    svc.service.app.inject({
      // A client address per request: the API's per-address rate limit (src/api/rate-limit.ts) is not what
      // these tests exercise, and they send far more than a browser's burst.
      remoteAddress: `10.${(clientCounter >> 16) & 255}.${(clientCounter >> 8) & 255}.${clientCounter++ & 255}`,
      method,
      url,
      headers: {
        host: WEB_HOST,
        ...(method === 'POST' ? { origin: `http://${WEB_HOST}`, 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...(options.cookie ? { cookie: options.cookie } : {}),
        ...options.headers,
      },
      ...(options.form ? { payload: new URLSearchParams(options.form).toString() } : {}),
    });
}

/** Signs in through the form and returns the `Cookie` header value for the session. */
export async function signIn(inject: Inject, key: string): Promise<string> {
  const response = await inject('POST', '/app/login', { form: { key } });
  const session = response.cookies.find((c) => c.name === 'tbx_session');
  if (response.statusCode !== 303 || !session) throw new Error(`sign-in failed: ${response.statusCode} ${response.body.slice(0, 200)}`);
  return `tbx_session=${session.value}`;
}

/** The anti-CSRF token a page embeds in its forms. */
export function csrfOf(page: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error('no csrf field on the page');
  return match[1]!;
}

/**
 * Debian's Chromium, headless, with one tab: any script error, CSP violation or failed load on any tab
 * of the context lands in `problems` (the tests assert it stays empty). The background-networking flags
 * keep Chromium from dialling out of this closed network.
 */
export async function openBrowser(
  t: { teardown(fn: () => unknown): void },
  options: { ignoreFailedUrl?: (url: string) => boolean } = {},
): Promise<{ browser: Browser; context: BrowserContext; page: Page; problems: string[] }> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 900 } });
  const problems: string[] = [];
  context.on('page', (tab) => {
    tab.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    tab.on('console', (message) => {
      // Failed loads are reported by URL below.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
    });
    tab.on('response', (response) => {
      if (response.status() >= 400 && !options.ignoreFailedUrl?.(response.url())) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
  });
  return { browser, context, page: await context.newPage(), problems };
}
