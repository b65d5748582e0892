// A kept review's bytes, so that a replica's review is recognised before it is parsed.
// Parsing a 6 KB review cost /mutate more than anything else once its answer was kept
// (./template-cache.ts); the apiserver sends a template's replicas byte for byte alike
// but for a few string values: the review's uid, the pod's token volume name
// (./token-volume.ts) and the managedFields times. Those values are holes in the kept
// bytes; the rest is compared as bytes.
//
// Why equal bytes give the answer parsing would: a hole is the inside of one JSON string,
// and a replica's hole content has no quote, backslash or control character, so its review
// parses to the kept one with only those strings changed. When a review is kept, the holes
// are proven to be where the per-template comparison (./template-match.ts) lets replicas
// differ: the kept bytes with other values in every hole are parsed and compared with the
// template, and the rest of the request must not change. A review that differs anywhere
// else, or whose hole content is not a plain string, is parsed and compared as before.
import { deepFreeze } from '../freeze';
import type { AdmissionRequest } from './review';
import { matches, type Template } from './template-match';
import { TOKEN_PREFIX, tokenVolumeOf } from './token-volume';

/** A hole's bytes: the request uid, the token volume name's suffix, or one the comparison
 *  leaves out (a managedFields time). */
interface Hole {
  start: number;
  end: number;
  kind: 'uid' | 'token' | 'ignored';
}

/** What a replica's review has of its own. */
export interface Replica {
  uid: string;
  /** Its token volume name (the kept one's when it has the same). */
  token: string | undefined;
}

/** Printable ASCII but `"` and `\`: a JSON string's content that means itself. */
const plain = (c: number) => c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c;
/** The ServiceAccount admission plugin's suffix: lower-case letters and digits (as
 *  token-volume.ts's TOKEN_VOLUME, tested a byte at a time). */
const tokenChar = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);

export class KeptReview {
  private constructor(
    private readonly body: Buffer,
    private readonly holes: readonly Hole[],
    private readonly token: string | undefined,
    /** Every string in the kept pod that starts like a token volume name: a replica's name
     *  must not be one of them (the comparison's rule: the new name appears nowhere else). */
    private readonly names: ReadonlySet<string>,
    /** The kept request: its uid is the kept review's, its object the pod's metadata only. */
    readonly request: AdmissionRequest,
  ) {}

  /**
   * The kept review `body` of the pod compiled as `template`, with token volume `token`; or
   * undefined when its holes cannot be proven (then replicas are parsed and compared).
   */
  static of(body: Buffer, template: Template, token: string | undefined): KeptReview | undefined {
    const kept = parseJson(body);
    const request = kept?.request as (AdmissionRequest & { object: { metadata?: Record<string, unknown> } }) | undefined;
    if (typeof request?.uid !== 'string') return undefined;
    const holes = holesOf(body, request.uid, token);
    if (!holes) return undefined;
    const other = otherValues(body, holes);
    const changed = parseJson(other.body);
    const pod = changed?.request?.object as { spec?: { volumes?: unknown } } | undefined;
    if (changed?.request?.uid !== other.uid || !pod) return undefined;
    if (token !== undefined && (tokenVolumeOf(pod) !== other.token || !matches(template, pod, token, other.token))) return undefined;
    if (token === undefined && !matches(template, pod)) return undefined;
    if (withoutReplica(changed) !== withoutReplica(kept!)) return undefined;
    const names = new Set<string>();
    collectNames(request.object, names);
    // managedFields is the biggest part of the metadata and no reader of a kept request needs it.
    const { managedFields: _, ...metadata } = request.object.metadata ?? {};
    const slim = { ...request, object: { apiVersion: 'v1', kind: 'Pod', metadata } };
    return new KeptReview(Buffer.from(body), holes, token, names, deepFreeze(slim));
  }

  get length(): number {
    return this.body.length;
  }

  /** What `body` has of its own, when it is this review's replica; otherwise undefined. */
  replica(body: Buffer): Replica | undefined {
    if (body.length !== this.body.length) return undefined;
    let at = 0;
    let uid = '';
    let suffix: string | undefined;
    for (const h of this.holes) {
      if (body.compare(this.body, at, h.start, at, h.start) !== 0) return undefined;
      const ok = h.kind === 'token' ? tokenChar : plain;
      for (let i = h.start; i < h.end; i++) if (!ok(body[i])) return undefined;
      if (h.kind === 'uid') uid = body.toString('latin1', h.start, h.end);
      else if (h.kind === 'token') {
        const s = body.toString('latin1', h.start, h.end);
        if (suffix === undefined) suffix = s;
        else if (s !== suffix) return undefined; // the volume and its mounts must name one volume
      }
      at = h.end;
    }
    if (body.compare(this.body, at, body.length, at, body.length) !== 0) return undefined;
    const token = suffix === undefined ? this.token : TOKEN_PREFIX + suffix;
    if (token !== this.token && this.names.has(token!)) return undefined;
    return { uid, token };
  }
}

function parseJson(body: Buffer): { request?: Record<string, unknown> } | undefined {
  try {
    const v = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The holes of the kept body, in order; undefined when the uid is not found as a plain string. */
function holesOf(body: Buffer, uid: string, token: string | undefined): Hole[] | undefined {
  if (uid === '' || ![...uid].every((ch) => plain(ch.charCodeAt(0)))) return undefined;
  const at = body.indexOf(`"uid":"${uid}"`);
  if (at < 0) return undefined;
  const holes: Hole[] = [{ start: at + 7, end: at + 7 + uid.length, kind: 'uid' }];
  if (token !== undefined) {
    for (let p = body.indexOf(`"${token}"`); p >= 0; p = body.indexOf(`"${token}"`, p + 1)) {
      holes.push({ start: p + 1 + TOKEN_PREFIX.length, end: p + 1 + token.length, kind: 'token' });
    }
  }
  const time = Buffer.from('"time":"');
  for (let p = body.indexOf(time); p >= 0; p = body.indexOf(time, p + 1)) {
    const start = p + time.length;
    const end = body.indexOf(0x22, start);
    let ok = end > start;
    for (let i = start; ok && i < end; i++) ok = plain(body[i]);
    if (ok) holes.push({ start, end, kind: 'ignored' });
  }
  holes.sort((a, b) => a.start - b.start);
  // Holes never overlap (each is inside its own string); were two to, nothing is kept.
  return holes.every((h, i) => i === 0 || holes[i - 1].end <= h.start) ? holes : undefined;
}

/** The body with other values in every hole: a uid, a token volume name and times of its own. */
function otherValues(body: Buffer, holes: readonly Hole[]): { body: Buffer; uid: string; token: string | undefined } {
  const out = Buffer.from(body);
  let uid = '';
  let token: string | undefined;
  let suffix = 'zzzzz';
  for (let n = 0; body.includes(TOKEN_PREFIX + suffix); n++) suffix = `zz${n.toString(36).padStart(3, '0')}`;
  for (const h of holes) {
    const kept = body.toString('latin1', h.start, h.end);
    const fill = h.kind === 'token' ? suffix : (kept.startsWith('0') ? '1' : '0').repeat(h.end - h.start);
    out.write(fill, h.start, 'latin1');
    if (h.kind === 'uid') uid = fill;
    if (h.kind === 'token') token = TOKEN_PREFIX + suffix;
  }
  return { body: out, uid, token };
}

/** The review but its request's uid and object: what must not change between replicas. */
function withoutReplica(review: { request?: Record<string, unknown> }): string {
  return JSON.stringify({ ...review, request: { ...review.request, uid: undefined, object: undefined } });
}

function collectNames(value: unknown, names: Set<string>): void {
  if (typeof value === 'string') {
    if (value.startsWith(TOKEN_PREFIX)) names.add(value);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) collectNames(v, names);
  }
}

