import { mutate, validate } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { parseConfig } from '../../src/config';

const pod = (annotations: Record<string, string>) => ({
  metadata: { name: 'p', namespace: 'shop', annotations },
  spec: { containers: [{ name: 'app', image: 'x', command: ['/app'] }] },
});
const request = (object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object, ...extra });

test('invalidAnnotations: warn admits the pod un-injected, with the reason as a warning', async () => {
  const config = parseConfig({ injection: { invalidAnnotations: 'warn' } });
  const outcome = await mutate(request(pod({ 'podhooks.io/pre-start': 'x', 'podhooks.io/debug': 'maybe' })), { config, nativeSidecars: true });
  expect(outcome.decision).toBe('warned');
  expect(outcome.response).toEqual({ uid: 'u', allowed: true, warnings: ['podhooks: not injected: annotation podhooks.io/debug="maybe": must be "true" or "false"'] });
});

test('UPDATE and subresources are never mutated', async () => {
  const config = parseConfig({});
  expect((await mutate(request(pod({ 'podhooks.io/pre-start': 'x' }), { operation: 'UPDATE' }), { config, nativeSidecars: true })).response).toEqual({ uid: 'u', allowed: true });
  expect((await mutate(request(pod({ 'podhooks.io/pre-start': 'x' }), { subResource: 'status' }), { config, nativeSidecars: true })).response).toEqual({ uid: 'u', allowed: true });
});

test('an UPDATE is denied only for violations it introduces, so old pods stay deletable', async () => {
  const config = parseConfig({});
  const kata = { metadata: { name: 'vm', namespace: 'shop' }, spec: { runtimeClassName: 'kata', hostNetwork: true, containers: [{ name: 'a', image: 'x' }] } };
  const relabel = { ...kata, metadata: { ...kata.metadata, labels: { x: 'y' } } };
  expect((await validate(request(relabel, { operation: 'UPDATE', oldObject: kata }), { config, nativeSidecars: true })).response.allowed).toBe(true);
  expect((await validate(request(kata), { config, nativeSidecars: true })).response.allowed).toBe(false);
});

test('rules set to audit are allowed and recorded only in auditAnnotations', async () => {
  const config = parseConfig({ validation: { rules: { 'sandbox-host-namespaces': 'audit' } } });
  const kata = { metadata: { name: 'vm', namespace: 'shop' }, spec: { runtimeClassName: 'gvisor', hostPID: true, containers: [{ name: 'a', image: 'x' }] } };
  const outcome = await validate(request(kata), { config, nativeSidecars: true });
  expect(outcome.decision).toBe('audited');
  expect(outcome.response.allowed).toBe(true);
  expect(outcome.response.warnings).toBeUndefined();
  expect(outcome.response.auditAnnotations).toEqual({ 'audit-sandbox-host-namespaces': expect.stringContaining('spec.hostPID: runtimeClassName "gvisor"') });
});
