// One duration grammar for config, annotations and CLI flags: a whole number with an
// optional unit s, m, h or d (no unit: seconds), e.g. 90, 90s, 15m, 720h, 7d.
const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds, or undefined when `text` is not such a duration (callers word the error). */
export function durationSeconds(text: string): number | undefined {
  const m = /^([0-9]+)([smhd]?)$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_SECONDS[m[2]] : undefined;
}
