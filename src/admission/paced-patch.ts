// An answer that adds the authz init container gives the pod a start offset from the
// pacer (a token per pod, in podhooks.io/authz-start-offset-ms). Such an answer is kept
// with the offset as a slot: a replica takes its own token and gets the answer with it.
import { A } from '../mutate/annotations';

/** The JSON Patch operation's text up to the offset (RFC 6901 escapes "/" in the key as "~1"). */
const OFFSET_SLOT = `"path":"/metadata/annotations/${A.authzOffset.replaceAll('/', '~1')}","value":"`;

export class PacedPatch {
  private constructor(
    private readonly before: string,
    private readonly after: string,
    private readonly token: string | undefined,
  ) {}

  /** `patchJson` with its one offset `value` as a slot (and the token volume name `token`, if
   *  any, renameable); undefined when the patch does not set the offset exactly once. */
  static of(patchJson: string, value: string, token: string | undefined): PacedPatch | undefined {
    const at = patchJson.indexOf(OFFSET_SLOT);
    const start = at + OFFSET_SLOT.length;
    if (at < 0 || patchJson.indexOf(OFFSET_SLOT, start) >= 0 || !patchJson.startsWith(`${value}"`, start)) return undefined;
    return new PacedPatch(patchJson.slice(0, start), patchJson.slice(start + value.length), token);
  }

  /** The base64 patch for a pod with token volume `token`; `startOffset` takes its pacing token. */
  with(token: string | undefined, startOffset: () => string): string {
    let json = this.before + startOffset() + this.after;
    // Every occurrence of the kept name is a whole JSON string (checked before keeping).
    if (token !== undefined && this.token !== undefined && token !== this.token) json = json.split(this.token).join(token);
    return Buffer.from(json).toString('base64');
  }
}
