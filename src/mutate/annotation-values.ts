// The value grammars of podhooks.io/* annotations (booleans, ports, durations, URLs,
// JSON arrays). annotations.ts reads the annotations and calls these; each bad value
// becomes an AnnotationError naming the annotation, the value and what is allowed.
import { durationSeconds } from '../duration';
import { LruCache } from '../lru';

export interface AnnotationError {
  annotation: string;
  value: string;
  message: string;
}

export function parseBool(key: string, value: string, errors: AnnotationError[]): boolean | undefined {
  if (value === 'true') return true;
  if (value === 'false') return false;
  errors.push({ annotation: key, value, message: 'must be "true" or "false"' });
  return undefined;
}

export function parsePort(key: string, value: string, errors: AnnotationError[]): number | undefined {
  const port = /^[0-9]{1,5}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (port >= 1 && port <= 65535) return port;
  errors.push({ annotation: key, value, message: 'must be a port number from 1 to 65535' });
  return undefined;
}

/** Accepts "300", "300s", "5m", "1h" (from `min` seconds, 1 unless told, to 24h). */
export function parseDurationSeconds(key: string, value: string, errors: AnnotationError[], min = 1): number | undefined {
  const seconds = durationSeconds(value);
  if (seconds !== undefined && seconds >= min && seconds <= 86400) return seconds;
  errors.push({ annotation: key, value, message: `must be a duration from ${min}s to 24h, such as "90", "90s", "5m" or "1h"` });
  return undefined;
}

/** An annotation that only means something next to `needs` (named in the message). */
export function onlyWith(key: string, value: string | undefined, needs: string, errors: AnnotationError[]): void {
  if (value !== undefined) errors.push({ annotation: key, value, message: `only applies with ${needs}; add it or remove this annotation` });
}

/** Check URLs already found valid: a deployment's pods all carry the same one, parsed once. */
const VALID_CHECK_URLS = new LruCache<string, true>(1024);

export function parseCheckUrl(key: string, value: string, errors: AnnotationError[]): string | undefined {
  if (VALID_CHECK_URLS.has(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    errors.push({ annotation: key, value, message: 'must be an absolute http:// or https:// URL, e.g. http://localhost:8080/healthcheck.html' });
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push({ annotation: key, value, message: `scheme ${url.protocol} is not supported; use http:// or https://` });
    return undefined;
  }
  VALID_CHECK_URLS.set(value, true);
  return value;
}

export function parseEntrypoint(key: string, value: string, errors: AnnotationError[]): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((s) => typeof s === 'string')) return parsed as string[];
  errors.push({ annotation: key, value, message: 'must be a non-empty JSON array of strings, e.g. ["/docker-entrypoint.sh","nginx","-g","daemon off;"]' });
  return undefined;
}
