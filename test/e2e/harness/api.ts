// A raw request to the apiserver that keeps what client libraries drop: the status code,
// the error message and every Warning header (admission warnings), one per entry.
import { request } from 'node:https';
import type { ControlPlane } from './controlplane';

export interface ApiAnswer {
  status: number;
  body: any;
  /** The apiserver's error message, for non-2xx answers. */
  message?: string;
  warnings: string[];
}

/** `299 - "text"` (RFC 7234 warn-text, with \" and \\ escaped) to text. */
function warningText(header: string): string {
  const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return m ? m[1].replace(/\\(.)/g, '$1') : header;
}

export function api(cp: Pick<ControlPlane, 'server' | 'token'>, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${cp.server}${path}`,
      { method, rejectUnauthorized: false, headers: { authorization: `Bearer ${cp.token}`, accept: 'application/json', ...(data ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: any;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          const warnings: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i].toLowerCase() === 'warning') warnings.push(warningText(res.rawHeaders[i + 1]));
          const status = res.statusCode!;
          resolve({ status, body: parsed, warnings, ...(status >= 300 ? { message: parsed?.message ?? text } : {}) });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
