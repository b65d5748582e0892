// Structured logs. The destination is asynchronous so a slow stdout never stalls the
// admission hot path; it is flushed on shutdown.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, sync = false): Logger {
  // No minLength: a quiet server must still show each decision promptly.
  const destination = pino.destination({ dest: 1, sync });
  // Levels as words ("level":"warn"), as Loki, Elastic and GCP parsers expect, not pino's numbers.
  return pino({ level, base: { app: 'podhooks' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });
