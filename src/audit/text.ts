// Small text helpers for the ops commands: aligned tables like kubectl's, and durations
// such as 90s, 15m, 1h, 7d for --since and --interval.
import { durationSeconds } from '../duration';

/** Columns padded to the widest cell; the last column is never padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Milliseconds, or an Error message naming the option, the value and the accepted form. */
export function parseDuration(option: string, value: string): number {
  const seconds = durationSeconds(value);
  if (!seconds) throw new Error(`${option} ${JSON.stringify(value)}: expected a positive duration such as 90s, 15m, 1h or 7d`);
  return seconds * 1000;
}

/** "3m ago"-style ages, as kubectl shows them. */
export function age(from: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
