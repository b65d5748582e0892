// A kept authz answer with its start offset as a slot (src/admission/paced-patch.ts): filled
// in the base64 text, it equals encoding the patch with the pod's offset (and its token
// volume's name) afresh.
import fc from 'fast-check';
import { PacedPatch } from '../../src/admission/paced-patch';
import { A } from '../../src/mutate/annotations';

const SLOT = `"path":"/metadata/annotations/${A.authzOffset.replaceAll('/', '~1')}","value":"`;
const token = fc.stringMatching(/^[a-z0-9]{5}$/).map((s) => `kube-api-access-${s}`);
const offset = fc.oneof(fc.nat(), fc.nat({ max: 9 }), fc.integer({ min: 1e9, max: 2 ** 52 })).map(String);
const text = fc.array(fc.string({ unit: 'binary', maxLength: 9 }), { maxLength: 4 });
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('the slot filled in the base64 text equals encoding the patch afresh, for any offset and any bytes around it', () => {
  fc.assert(
    fc.property(text, text, offset, offset, fc.option(fc.tuple(token, token)), (before, after, kept, given, rename) => {
      // The token volume's name, as whole JSON strings, anywhere before and after the slot.
      const [from, to] = rename ?? ['', ''];
      const join = (parts: string[], name: string) => (rename ? parts.join(`"${name}"`) : parts.join(''));
      const patch = (name: string, value: string) => `[${join(before, name)}{${SLOT}${value}"}${join(after, name)}]`;
      const paced = PacedPatch.of(patch(from, kept), kept, rename ? from : undefined);
      expect(paced).toBeDefined();
      expect(paced!.with(rename ? to : undefined, () => given)).toBe(b64(patch(to, given)));
      // A replica whose token volume has the kept name gets it unchanged.
      expect(paced!.with(rename ? from : undefined, () => given)).toBe(b64(patch(from, given)));
    }),
    { numRuns: 3000 },
  );
});

test('a patch that sets the offset other than once has no slot', () => {
  const op = (v: string) => `{${SLOT}${v}"}`;
  expect(PacedPatch.of(`[${op('5')}]`, '5', undefined)).toBeDefined();
  expect(PacedPatch.of(`[${op('5')},${op('5')}]`, '5', undefined)).toBeUndefined();
  expect(PacedPatch.of(`[${op('50')}]`, '5', undefined)).toBeUndefined();
  expect(PacedPatch.of('[]', '5', undefined)).toBeUndefined();
});
