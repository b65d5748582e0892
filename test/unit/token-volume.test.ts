// Renaming a replica's token volume in a kept patch (src/admission/token-volume.ts): the
// base64 text rewritten in place equals encoding the renamed patch afresh.
import fc from 'fast-check';
import { RenameablePatch, renameable, tokenVolumeOf } from '../../src/admission/token-volume';

const token = fc.stringMatching(/^[a-z0-9]{5}$/).map((s) => `kube-api-access-${s}`);
const b64 = (text: string) => Buffer.from(text).toString('base64');

test('the rename in the base64 text equals encoding the renamed patch, wherever the names fall', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 7 }), { minLength: 1, maxLength: 6 }), token, token, (parts, from, to) => {
      const text = parts.join(from); // any bytes around the name (multi-byte characters too), occurrences adjacent or not
      expect(new RenameablePatch(b64(text), from).with(to)).toBe(b64(parts.join(to)));
    }),
    { numRuns: 3000 },
  );
});

test('a patch that does not name the token volume is given unchanged', () => {
  const patch = b64('[{"op":"add","path":"/metadata/annotations","value":{}}]');
  expect(new RenameablePatch(patch, 'kube-api-access-aaaaa').with('kube-api-access-bbbbb')).toBe(patch);
});

test('a name of another length is refused rather than shifting the patch', () => {
  expect(() => new RenameablePatch(b64('"kube-api-access-aaaaa"'), 'kube-api-access-aaaaa').with('kube-api-access-bb')).toThrow(/21 characters/);
});

test('only a pod with exactly one token volume has a name to rename', () => {
  const vol = (name: string) => ({ name });
  expect(tokenVolumeOf({ spec: { volumes: [vol('data'), vol('kube-api-access-x1y2z')] } })).toBe('kube-api-access-x1y2z');
  expect(tokenVolumeOf({ spec: { volumes: [vol('kube-api-access-aaaaa'), vol('kube-api-access-bbbbb')] } })).toBeUndefined();
  expect(tokenVolumeOf({ spec: { volumes: [vol('kube-api-access-AAAAA'), vol('kube-api-access-aaaaaa')] } })).toBeUndefined();
  expect(tokenVolumeOf({ spec: { volumes: 'x' } })).toBeUndefined();
});

test('an answer is renameable only where the name is a whole JSON string', () => {
  const t = 'kube-api-access-aaaaa';
  expect(renameable('{}', `[{"value":"${t}"},{"value":"{\\"v\\":\\"${t}\\"}"}]`, t)).toBe(true);
  expect(renameable('{}', `[{"value":"/x/${t}"}]`, t)).toBe(false);
  expect(renameable(`{"warnings":["${t}"]}`, undefined, t)).toBe(false);
});
