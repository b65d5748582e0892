// Structured logs. The destination is asynchronous so a slow stdout never stalls the
// admission hot path; it is flushed on shutdown.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, sync = false): Logger {
  // No minLength: a quiet server must still show each decision promptly.
  const destination = pino.destination({ dest: 1, sync });
  // Levels as words ("level":"warn"), as Loki, Elastic and GCP parsers expect, not pino's numbers.
  return pino({ level, base: { app: 'podhooks' }, timestamp: isoTimeOncePerMs(), formatters: { level: (label) => ({ level: label }) } }, destination);
}

/** pino's isoTime ("time":"2026-12-01T10:00:00.000Z"), formatted once per millisecond: under
 *  load many lines share one, and formatting a Date was 2% of a busy server's time. */
function isoTimeOncePerMs(): () => string {
  let ms = NaN;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== ms) (ms = now), (field = `,"time":"${new Date(now).toISOString()}"`);
    return field;
  };
}

export const silentLogger: Logger = pino({ level: 'silent' });
