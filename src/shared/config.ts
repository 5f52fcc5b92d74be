import { z } from 'zod';
import { parseTrustProxy } from './trust-proxy.js';
import { isValidTimeZone } from './time.js';

/**
 * The environment contract of DESIGN 5.1: one schema, parsed once at startup, frozen, passed down.
 * Every problem is reported at once. Nothing here connects or reads files.
 */
const port = z.coerce.number().int().min(0).max(65535);
const optionalString = z.string().min(1).optional();
const MiB = 1_048_576;
const base64Key32 = z
  .string()
  .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes, base64-encoded');

export const ConfigSchema = z
  .object({
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(3000),
    MQTT_HOST: z.string().min(1).default('0.0.0.0'),
    MQTT_PORT: port.default(1883),
    MQTT_TLS_CERT: optionalString,
    MQTT_TLS_KEY: optionalString,
    MQTT_TLS_PORT: port.default(8883),
    // Outside dev mode the plaintext listener on MQTT_PORT opens only when the operator states that a
    // TLS-terminating proxy is in front of it (DESIGN 5.1: devices speak TLS in production).
    MQTT_PLAINTEXT: z.enum(['behind-tls-proxy']).optional(),
    // 20,000 sockets: 10,000 vehicles per instance, each with room for a half-open socket it left behind
    // on a cellular handover while it reconnects (kept until 1.5 × its keepalive passes).
    MQTT_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
    // Seconds. Keepalive 0 (never checked) or above this is refused at CONNECT (src/mqtt/README.md).
    MQTT_MAX_KEEPALIVE: z.coerce.number().int().min(1).max(65_535).default(1200),
    MQTT_URL: z.url({ protocol: /^(mqtt|mqtts|ws|wss|tcp|ssl)$/ }).optional(),
    MQTT_USERNAME: optionalString,
    MQTT_PASSWORD: optionalString,
    MQTT_SHARE_GROUP: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only').default('billing'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    DATA_DIR: z.string().min(1).default('./.data'),
    CATALOG_DIR: z.string().min(1).default('./sponsors'),
    ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    PII_KEY: base64Key32.optional(),
    PII_KEY_PREVIOUS: base64Key32.optional(),
    // Group commit bounds: 2,000 records or 20 ms, whichever comes first (see the ingest README).
    BATCH_MAX_RECORDS: z.coerce.number().int().min(1).max(100_000).default(2000),
    BATCH_MAX_MS: z.coerce.number().int().min(0).max(10_000).default(20),
    // Concurrent batch writers (each a pipelined connection); a vehicle always writes through the same one.
    INGEST_LANES: z.coerce.number().int().min(1).max(32).default(4),
    // Bytes of usage payload ingest may hold (received, not yet committed and acked) before the broker edge
    // stops taking usage; it takes it again at half (src/ingest/backpressure.ts). At least 1 MiB: four of the
    // largest messages, and a full 2,000-record batch below the low water. At most 1 GiB: parsed records
    // take a few times their payload, and the process has to hold them.
    INGEST_MAX_PENDING_BYTES: z
      .string()
      .regex(/^[0-9]+$/, `must be a whole number of bytes, digits only (${64 * MiB} is 64 MiB)`)
      .transform(Number)
      .pipe(
        z
          .number()
          .min(MiB, { error: (issue) => `must be at least ${MiB} (1 MiB), got ${String(issue.input)}` })
          .max(1024 * MiB, { error: (issue) => `must be at most ${1024 * MiB} (1 GiB), got ${String(issue.input)}` }),
      )
      .default(16 * MiB),
    // Dead letters (and the payloads no letter points at) older than this many days are deleted hourly.
    DEAD_LETTER_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
    // Webhooks (src/webhooks): loopback and private targets are refused unless this is true (default: true in
    // dev mode only); the deliverer looks for due deliveries every WEBHOOK_INTERVAL_MS.
    WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false']).optional(),
    WEBHOOK_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
    INFLUX_URL: z.url({ protocol: /^https?$/ }).optional(),
    INFLUX_TOKEN: optionalString,
    INFLUX_ORG: optionalString,
    INFLUX_BUCKET: optionalString,
    REALNAME_URL: z.url({ protocol: /^https?$/ }).optional(),
    REALNAME_TOKEN: optionalString,
    EINVOICE_URL: z.url({ protocol: /^https?$/ }).optional(),
    EINVOICE_TOKEN: optionalString,
    // Reverse proxies whose X-Forwarded-* headers are believed (trust-proxy.ts); off when unset.
    TRUST_PROXY: z
      .string()
      .transform((text, ctx) => {
        const parsed = parseTrustProxy(text);
        if (parsed.ok) return parsed.value.length > 0 ? parsed.value : undefined;
        ctx.addIssue({ code: 'custom', message: parsed.message });
        return z.NEVER;
      })
      .optional(),
    // Issue 13 (src/assurance/README.md): the zone of the dates in carrier usage files, and the tolerance of
    // the per-card per-day reconciliation: a gap within max(percent of the carrier's bytes, floor) matches.
    CARRIER_TIMEZONE: z.string().refine(isValidTimeZone, 'must be an IANA time zone, e.g. Asia/Shanghai').default('Asia/Shanghai'),
    RECONCILE_TOLERANCE_PERCENT: z.string().regex(/^\d{1,2}(\.\d{1,2})?$/, 'must be a percentage 0 to 99.99, at most 2 decimals').default('2'),
    RECONCILE_TOLERANCE_BYTES: z.string().regex(/^\d{1,15}$/, 'must be a whole number of bytes').transform(Number).default(1_048_576),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const devMode = !env.DATABASE_URL && !env.MQTT_URL;
    if (!devMode) {
      // DESIGN 5.1: outside dev mode no secret may be generated.
      if (!env.ADMIN_TOKEN) ctx.addIssue({ code: 'custom', path: ['ADMIN_TOKEN'], message: 'required when DATABASE_URL or MQTT_URL is set' });
      if (!env.PII_KEY) ctx.addIssue({ code: 'custom', path: ['PII_KEY'], message: 'required when DATABASE_URL or MQTT_URL is set' });
      // DESIGN 5.1: the embedded broker facing devices speaks TLS, unless a TLS-terminating proxy is declared.
      if (!env.MQTT_URL && !env.MQTT_PLAINTEXT && !env.MQTT_TLS_CERT && !env.MQTT_TLS_KEY) {
        for (const key of ['MQTT_TLS_CERT', 'MQTT_TLS_KEY'] as const) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'required when the embedded broker faces devices outside dev mode (or set MQTT_PLAINTEXT=behind-tls-proxy)' });
        }
      }
      // Personal data and invoices leave the process only encrypted, and only to a provider that knows us.
      for (const [url, token] of [['REALNAME_URL', 'REALNAME_TOKEN'], ['EINVOICE_URL', 'EINVOICE_TOKEN']] as const) {
        const value = env[url];
        if (!value) continue;
        if (!isHttpsOrLoopback(value)) ctx.addIssue({ code: 'custom', path: [url], message: 'must be https:// outside dev mode (http:// only to a loopback address)' });
        if (!env[token]) ctx.addIssue({ code: 'custom', path: [token], message: `required with ${url} outside dev mode` });
      }
    }
    if (Boolean(env.MQTT_TLS_CERT) !== Boolean(env.MQTT_TLS_KEY)) {
      ctx.addIssue({ code: 'custom', path: [env.MQTT_TLS_CERT ? 'MQTT_TLS_KEY' : 'MQTT_TLS_CERT'], message: 'MQTT_TLS_CERT and MQTT_TLS_KEY go together' });
    }
    const influx = [env.INFLUX_URL, env.INFLUX_TOKEN, env.INFLUX_ORG, env.INFLUX_BUCKET];
    if (influx.some(Boolean) && !influx.every(Boolean)) {
      for (const key of ['INFLUX_URL', 'INFLUX_TOKEN', 'INFLUX_ORG', 'INFLUX_BUCKET'] as const) {
        if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'the INFLUX_* variables go together' });
      }
    }
  });

/**
 * https, or http to a loopback address: a TLS-terminating sidecar on the same host (and the test
 * simulators) never put the request on a network.
 */
function isHttpsOrLoopback(value: string): boolean {
  const url = new URL(value);
  if (url.protocol === 'https:') return true;
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(url.hostname);
}

type Parsed = z.infer<typeof ConfigSchema>;
export type Config = Readonly<Parsed & { devMode: boolean }>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * What `npm run migrate` reads, and nothing else: it faces no device and no provider, so the service's
 * production requirements (secrets, TLS files, provider tokens) are not its business.
 */
export function loadMigrateConfig(env: NodeJS.ProcessEnv): Readonly<Pick<Parsed, 'DATABASE_URL' | 'DATA_DIR' | 'LOG_LEVEL'>> {
  const { DATABASE_URL, DATA_DIR, LOG_LEVEL } = ConfigSchema.shape;
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = z.object({ DATABASE_URL, DATA_DIR, LOG_LEVEL }).safeParse(present);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  return Object.freeze(result.data);
}

/** Parses the environment once; throws one ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // Empty strings mean "unset", as in shells and compose files.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = ConfigSchema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  const devMode = !result.data.DATABASE_URL && !result.data.MQTT_URL;
  return Object.freeze({ ...result.data, devMode });
}
