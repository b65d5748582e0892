import { BadReviewError, parseReview, serialiseReview } from '../../src/admission/review';

const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: { kind: 'Pod' } } };

test('a valid review parses to its request', () => {
  expect(parseReview(JSON.stringify(base))).toEqual(base.request);
});

test('DELETE needs no object', () => {
  expect(parseReview(JSON.stringify({ ...base, request: { ...base.request, operation: 'DELETE', object: null } })).operation).toBe('DELETE');
});

test.each([
  [{ ...base, request: { ...base.request, operation: 'PATCH' } }, 'request.operation is "PATCH"; expected one of CREATE, UPDATE, DELETE, CONNECT'],
  [{ ...base, request: { ...base.request, kind: undefined } }, 'request.kind is missing'],
  [{ ...base, request: { ...base.request, uid: 7 } }, 'request.uid is missing or not a string'],
])('%j is refused', (body, message) => {
  expect(() => parseReview(JSON.stringify(body))).toThrow(BadReviewError);
  expect(() => parseReview(JSON.stringify(body))).toThrow(message);
});

test('the answer is an admission.k8s.io/v1 AdmissionReview', () => {
  expect(JSON.parse(serialiseReview({ uid: 'u1', allowed: true }))).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u1', allowed: true } });
});

test('an answer with a patch (spliced in, not re-escaped) is the same JSON', () => {
  const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/annotations/a~1"b"', value: 'ü\n"x"' }])).toString('base64');
  const response = { uid: 'u"2', allowed: true, patchType: 'JSONPatch' as const, patch, warnings: ['w "1"'], auditAnnotations: { 'a/b': 'c\\d' } };
  expect(JSON.parse(serialiseReview(response))).toStrictEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
});
