import pino, { type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

/** Paths that must never reach a log line: tokens, secrets, passwords and personal data fields. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'password',
  '*.password',
  'deviceSecret',
  '*.deviceSecret',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'adminToken',
  'key',
  '*.key',
  'idNumber',
  '*.idNumber',
  'phone',
  '*.phone',
];

/** How log lines are written: `json` (one object a line, for log storage) or `pretty` (for a person at a terminal). */
export type LogFormat = 'json' | 'pretty';

/**
 * Pretty only when a person reads the lines as they come: dev mode (DESIGN 5.1) and stdout a terminal.
 * Everywhere else — production, CI, a pipe, a file, a container's log driver — JSON.
 */
export function chooseLogFormat(input: { devMode: boolean; isTTY: boolean }): LogFormat {
  return input.devMode && input.isTTY ? 'pretty' : 'json';
}

/**
 * The service's pino logger. `destination` defaults to stdout; with `format: 'pretty'` (and no destination)
 * lines go through pino-pretty as an in-process synchronous stream, after redaction, so the rules above hold
 * for both formats and nothing is lost at exit.
 */
export function createLogger(level: string, destination?: DestinationStream, options: { format?: LogFormat } = {}): Logger {
  const stream = destination ?? (options.format === 'pretty' ? pinoPretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }) : undefined);
  return pino(
    {
      level,
      base: { service: 'tbox-billing' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    stream,
  );
}
