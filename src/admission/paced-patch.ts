// An answer that adds the authz init container gives the pod a start offset from the
// pacer (a token per pod, in podhooks.io/authz-start-offset-ms). Such an answer is kept
// with the offset as a slot: a replica takes its own token and gets the answer with it.
// The slot is filled in the base64 text: only the few bytes around the offset are encoded
// per pod, and the token volume is renamed in place as for any kept patch (token-volume.ts).
import { A } from '../mutate/annotations';
import { RenameablePatch } from './token-volume';

/** The JSON Patch operation's text up to the offset (RFC 6901 escapes "/" in the key as "~1"). */
const OFFSET_SLOT = `"path":"/metadata/annotations/${A.authzOffset.replaceAll('/', '~1')}","value":"`;

/** A base64 text, renameable when the kept pod has a token volume. */
type Part = { with(token: string | undefined): string };

/** The three encodings of what follows the offset hold its base64 three times over (a
 *  paced entry costs ~4× its patch in memory); their bytes are views of one Buffer. */
function part(bytes: Buffer, token: string | undefined): Part {
  const base64 = bytes.toString('base64');
  return token === undefined ? { with: () => base64 } : new RenameablePatch(base64, token, bytes);
}

export class PacedPatch {
  private constructor(
    /** The bytes before the offset in whole 3-byte groups, as base64. */
    private readonly head: Part,
    /** The 0-2 bytes before the offset left over from those groups (ASCII: the slot's `:"`). */
    private readonly tail: string,
    /** For k = 0, 1, 2: the first k bytes after the offset (ASCII: `"}`) ... */
    private readonly leads: readonly string[],
    /** ... and the bytes after those, as base64, which start on a group boundary when the
     *  tail, the offset and the lead fill whole groups. */
    private readonly rests: readonly Part[],
  ) {}

  /** `patchJson` with its one offset `value` as a slot (and the token volume name `token`, if
   *  any, renameable); undefined when the patch does not set the offset exactly once. */
  static of(patchJson: string, value: string, token: string | undefined): PacedPatch | undefined {
    const at = patchJson.indexOf(OFFSET_SLOT);
    const start = at + OFFSET_SLOT.length;
    if (at < 0 || patchJson.indexOf(OFFSET_SLOT, start) >= 0 || !patchJson.startsWith(`${value}"`, start)) return undefined;
    const before = Buffer.from(patchJson.slice(0, start));
    const after = Buffer.from(patchJson.slice(start + value.length));
    if (after.length < 2) return undefined;
    const cut = before.length - (before.length % 3);
    const leads = [0, 1, 2].map((k) => after.toString('latin1', 0, k));
    return new PacedPatch(
      part(before.subarray(0, cut), token),
      before.toString('latin1', cut),
      leads,
      leads.map((_, k) => part(after.subarray(k), token)),
    );
  }

  /** The base64 patch for a pod with token volume `token`; `startOffset` takes its pacing token
   *  (whole milliseconds: ASCII digits). */
  with(token: string | undefined, startOffset: () => string): string {
    const middle = this.tail + startOffset();
    const k = (3 - (middle.length % 3)) % 3;
    return this.head.with(token) + Buffer.from(middle + this.leads[k], 'latin1').toString('base64') + this.rests[k].with(token);
  }
}
