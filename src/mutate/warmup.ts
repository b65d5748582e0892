// The podhooks.io/warmup-urls grammar. annotations.ts reads the annotation and calls this;
// the preOnline runner gets the parsed requests, one per line, so the shell never parses
// what a pod author wrote. One entry:
//
//   [GET|POST] URL [xCOUNT] [expect STATUS[|STATUS...]] [timeout DURATION]
//
// Entries are separated by newlines or commas (a comma inside a URL is written %2C).
// Defaults: GET, x1, expect 2xx|3xx (as the check URL and the kubelet count a pass),
// timeout 10s per request.
import { durationSeconds } from '../duration';

export interface WarmupRequest {
  method: 'GET' | 'POST';
  url: string;
  count: number;
  /** Status codes ("200") and classes ("2xx"). */
  expect: string[];
  timeoutSeconds: number;
}

export interface Warmup {
  requests: WarmupRequest[];
  /** The whole warm-up's deadline (podhooks.io/warmup-timeout). */
  timeoutSeconds: number;
  /** What a failed request or the deadline does: keep the pod unready, or only warn. */
  failure: 'fail' | 'warn';
}

export const WARMUP_LIMITS = { maxCount: 1000, maxEntries: 100, maxRequests: 10000, maxRequestTimeoutSeconds: 300 } as const;
export const WARMUP_DEFAULTS = { method: 'GET', count: 1, expect: ['2xx', '3xx'], timeoutSeconds: 10 } as const;
const SYNTAX = '[GET|POST] URL [xCOUNT] [expect STATUS[|STATUS...]] [timeout DURATION], e.g. "GET http://localhost:8080/warm x20 expect 200"';

function parseUrl(token: string): string | undefined {
  if (!/^https?:\/\/[^/]/.test(token)) return undefined;
  try {
    const url = new URL(token);
    return url.protocol === 'http:' || url.protocol === 'https:' ? token : undefined;
  } catch {
    return undefined;
  }
}

/** One entry, or the reason it is wrong (without the entry itself: the caller names it). */
function parseEntry(entry: string): WarmupRequest | string {
  const tokens = entry.split(/\s+/);
  let i = 0;
  let method: WarmupRequest['method'] = WARMUP_DEFAULTS.method;
  if (/^[A-Za-z]+$/.test(tokens[0])) {
    const m = tokens[0].toUpperCase();
    if (m !== 'GET' && m !== 'POST') return `method "${tokens[0]}" is not supported: busybox wget in the pod sends only GET and POST (with an empty body)`;
    method = m;
    i++;
  }
  const url = tokens[i] === undefined ? undefined : parseUrl(tokens[i]);
  if (url === undefined) return `${tokens[i] === undefined ? 'has no URL' : `"${tokens[i]}" is not an absolute http:// or https:// URL`}; an entry is ${SYNTAX}`;
  const request: WarmupRequest = { method, url, count: WARMUP_DEFAULTS.count, expect: [...WARMUP_DEFAULTS.expect], timeoutSeconds: WARMUP_DEFAULTS.timeoutSeconds };
  const seen = new Set<string>();
  for (i++; i < tokens.length; i++) {
    const token = tokens[i];
    const option = /^x[0-9]+$/i.test(token) ? 'x' : token.toLowerCase();
    if (seen.has(option)) return `"${option === 'x' ? 'xCOUNT' : option}" is given twice`;
    seen.add(option);
    if (option === 'x') {
      request.count = Number(token.slice(1));
      if (!(request.count >= 1 && request.count <= WARMUP_LIMITS.maxCount)) return `count "${token}" must be from x1 to x${WARMUP_LIMITS.maxCount}`;
    } else if (option === 'expect') {
      const value = tokens[++i] ?? '';
      const statuses = value.toLowerCase().split('|');
      const bad = statuses.find((s) => !/^[1-5]([0-9][0-9]|xx)$/.test(s));
      if (bad !== undefined) return `expect "${value}" must be statuses like 200 or classes like 2xx (100-599), joined by |, e.g. "expect 200|204"`;
      request.expect = [...new Set(statuses)];
    } else if (option === 'timeout') {
      const value = tokens[++i] ?? '';
      const seconds = durationSeconds(value);
      if (!(seconds !== undefined && seconds >= 1 && seconds <= WARMUP_LIMITS.maxRequestTimeoutSeconds)) return `timeout "${value}" must be a duration from 1s to ${WARMUP_LIMITS.maxRequestTimeoutSeconds}s, such as "5" or "5s"`;
      request.timeoutSeconds = seconds;
    } else {
      return `"${token}" is not understood; after the URL come xCOUNT, "expect STATUS" and "timeout DURATION" (a comma inside a URL is written %2C)`;
    }
  }
  return request;
}

/** The requests of a podhooks.io/warmup-urls value, or the reason it is wrong. */
export function parseWarmupUrls(value: string): WarmupRequest[] | string {
  const entries = value.split(/[\n,]/).map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) return `is empty; give one entry per line or comma-separated: ${SYNTAX}`;
  if (entries.length > WARMUP_LIMITS.maxEntries) return `has ${entries.length} entries; at most ${WARMUP_LIMITS.maxEntries} are allowed`;
  const requests: WarmupRequest[] = [];
  for (const [n, entry] of entries.entries()) {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') {
      const hint = value.includes(',') && !parsed.includes('%2C') ? ' (commas separate entries: a comma inside a URL is written %2C)' : '';
      return `entry ${n + 1} (${JSON.stringify(entry)}): ${parsed}${hint}`;
    }
    requests.push(parsed);
  }
  const total = requests.reduce((sum, r) => sum + r.count, 0);
  if (total > WARMUP_LIMITS.maxRequests) return `asks for ${total} requests in all; at most ${WARMUP_LIMITS.maxRequests} are allowed`;
  return requests;
}

/** PODHOOKS_WARMUP for preonline.sh: "METHOD COUNT EXPECT TIMEOUT URL" per line (URLs hold no whitespace). */
export function warmupEnv(requests: WarmupRequest[]): string {
  return requests.map((r) => `${r.method} ${r.count} ${r.expect.join(',')} ${r.timeoutSeconds} ${r.url}`).join('\n');
}
