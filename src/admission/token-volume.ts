// The one part of a replica's spec that differs from its template: the ServiceAccount
// admission plugin (before any webhook) gives each pod a token volume of its own name,
// kube-api-access-<5 random characters>, mounted in every container. A kept answer is given
// to a replica with another one by renaming it in the patch, in place in the base64 text.

/** Every token volume name: this, then 5 lower-case letters or digits. */
export const TOKEN_PREFIX = 'kube-api-access-';
const TOKEN_VOLUME = new RegExp(`^${TOKEN_PREFIX}[a-z0-9]{5}$`);
/** Every token volume name has this many bytes (ASCII), so a rename never moves the rest. */
const TOKEN_BYTES = TOKEN_PREFIX.length + 5;

/** The pod's one token volume's name, or undefined (none, or more than one). */
export function tokenVolumeOf(pod: { spec?: { volumes?: unknown } }): string | undefined {
  const volumes = pod.spec?.volumes;
  if (!Array.isArray(volumes)) return undefined;
  let found: string | undefined;
  for (const v of volumes) {
    const name = (v as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !TOKEN_VOLUME.test(name)) continue;
    if (found !== undefined) return undefined;
    found = name;
  }
  return found;
}

/** An answer (all but its patch, as JSON) and its patch's JSON name `token` only as a whole
 *  JSON string, or as one inside an annotation's JSON: the ways a rename can follow. */
export function renameable(restJson: string, patchJson: string | undefined, token: string): boolean {
  const count = (text: string, part: string) => text.split(part).length - 1;
  if (restJson.includes(token)) return false;
  return patchJson === undefined || count(patchJson, token) === count(patchJson, `"${token}"`) + count(patchJson, `\\"${token}\\"`);
}

/**
 * A base64 patch that names a token volume, ready to name another: the rename rewrites
 * only the few base64 characters that encode the name (4 for every 3 bytes), instead of
 * decoding, replacing and encoding the whole patch again.
 */
export class RenameablePatch {
  private readonly bytes: Buffer;
  /** Runs of whole 3-byte groups that hold the name, and where in each run it starts. */
  private readonly runs: { start: number; end: number; at: number[] }[] = [];

  /** `bytes`: what `base64` encodes, when the caller has it (never written to). */
  constructor(
    private readonly base64: string,
    readonly token: string,
    bytes?: Buffer,
  ) {
    this.bytes = bytes ?? Buffer.from(base64, 'base64');
    for (let p = this.bytes.indexOf(token); p >= 0; p = this.bytes.indexOf(token, p + token.length)) {
      const start = p - (p % 3);
      const end = Math.min(Math.ceil((p + token.length) / 3) * 3, this.bytes.length);
      const last = this.runs.at(-1);
      if (last && start < last.end) last.end = end, last.at.push(p);
      else this.runs.push({ start, end, at: [p] });
    }
  }

  /** The patch for a pod whose token volume is `token` (same length as every token volume name). */
  with(token: string | undefined): string {
    if (token === undefined || token === this.token) return this.base64;
    if (token.length !== TOKEN_BYTES || this.token.length !== TOKEN_BYTES) throw new Error(`token volume names are ${TOKEN_BYTES} characters: ${token}`);
    let out = '';
    let done = 0; // base64 characters of the kept patch already in `out`
    for (const { start, end, at } of this.runs) {
      const run = Buffer.from(this.bytes.subarray(start, end));
      for (const p of at) run.write(token, p - start, 'latin1');
      out += this.base64.slice(done, (start / 3) * 4) + run.toString('base64');
      done = Math.ceil(end / 3) * 4;
    }
    return out + this.base64.slice(done);
  }
}
