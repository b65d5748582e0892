// What every offline command reads: -f FILE or - (stdin).
import { readFileSync } from 'node:fs';
import { ExitError } from './exit';

export function readInput(file: string): { text: string; source: string } {
  if (file === '-') return { text: readFileSync(0, 'utf8'), source: 'stdin' };
  try {
    return { text: readFileSync(file, 'utf8'), source: file };
  } catch (err) {
    throw new ExitError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
}

/** --namespace-label key=value flags as a label map. */
export function parseLabels(values: string[], flag = '--namespace-label'): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new ExitError(`${flag} ${JSON.stringify(v)}: expected key=value`, 2);
    labels[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return labels;
}

export const repeatable = (v: string, acc: string[]) => [...acc, v];
