import { parseArgs } from 'node:util';
import { runStore } from './generator.js';

/**
 * The store simulator: generates orders against a running service.
 *
 *   tsx simulators/store/cli.ts --url http://127.0.0.1:3000 --token sk_… --merchant shop-a --orders 50
 *
 * With the admin token and `--setup`, it creates the merchant first (and prints its new key).
 */
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
    token: { type: 'string' },
    merchant: { type: 'string', default: 'demo-store' },
    orders: { type: 'string', default: '20' },
    seed: { type: 'string' },
    plan: { type: 'string', default: 'iot-12m' },
    concurrency: { type: 'string', default: '4' },
    setup: { type: 'boolean', default: false },
    'tax-id': { type: 'string', default: '91310000MA1FL5LQ3E' },
  },
});

const token = values.token ?? process.env.STORE_TOKEN;
if (!token) {
  console.error('--token (a merchant key, or the admin token with --setup) is required');
  process.exit(64);
}
let storeToken = token;
if (values.setup) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const created = await fetch(`${values.url}/v1/merchants`, { method: 'POST', headers, body: JSON.stringify({ id: values.merchant, name: `Store ${values.merchant}`, taxId: values['tax-id'] }) });
  if (created.status !== 201 && created.status !== 409) {
    console.error(`creating the merchant failed: ${created.status} ${await created.text()}`);
    process.exit(1);
  }
  const key = await fetch(`${values.url}/v1/merchants/${values.merchant}/keys`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  storeToken = ((await key.json()) as { key: string }).key;
  console.log(`merchant ${values.merchant}, key ${storeToken} (shown once)`);
}
const report = await runStore({
  baseUrl: values.url,
  token: storeToken,
  merchant: values.merchant,
  orders: Number(values.orders),
  plan: values.plan,
  concurrency: Number(values.concurrency),
  ...(values.seed ? { seed: values.seed } : {}),
  log: (line) => console.log(line),
});
console.log(JSON.stringify(report, null, 2));
process.exit(report.failures.length > 0 ? 1 : 0);
