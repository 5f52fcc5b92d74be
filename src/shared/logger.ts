import pino, { type DestinationStream, type Logger } from 'pino';

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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tbox-billing' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}
