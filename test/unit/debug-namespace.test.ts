// The debug-namespace rule through the validating handler: labels read only when needed,
// a denial naming label and fix, and a denial saying so when labels cannot be read.
import type { V1Pod } from '@kubernetes/client-node';
import { validate, type AdmissionContext } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { parseConfig } from '../../src/config';

function request(annotations: Record<string, string>, namespace = 'dev'): AdmissionRequest {
  const pod: V1Pod = { metadata: { name: 'p', namespace, annotations }, spec: { containers: [{ name: 'app', image: 'java' }] } };
  return { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace, operation: 'CREATE', userInfo: { username: 'dev' }, object: pod } as AdmissionRequest;
}

function context(labels: Record<string, string> | Error | undefined, config = parseConfig({})) {
  const asked: string[] = [];
  const ctx: AdmissionContext = {
    config,
    nativeSidecars: true,
    namespaces:
      labels === undefined
        ? undefined
        : {
            async labels(ns: string) {
              asked.push(ns);
              if (labels instanceof Error) throw labels;
              return labels;
            },
          },
  };
  return { ctx, asked };
}

const DEBUG = { 'podhooks.io/debug': 'true' };
/** Debug mode is injected only where injection is on; elsewhere the annotation draws a warning of its own. */
const ENABLED = { 'podhooks.io/injection': 'enabled' };

test('allowed in a namespace labelled podhooks.io/debug=allowed', async () => {
  const { ctx, asked } = context({ ...ENABLED, 'podhooks.io/debug': 'allowed' });
  const out = await validate(request(DEBUG), ctx);
  expect(out.decision).toBe('allowed');
  expect(asked).toEqual(['dev']);
});

test('denied without the label, naming the label and the kubectl fix', async () => {
  const { ctx } = context({ team: 'a' });
  const out = await validate(request(DEBUG), ctx);
  expect(out.decision).toBe('denied');
  expect(out.response.status?.message).toBe(
    'podhooks debug-namespace: debug mode (podhooks.io/debug="true") is allowed only in namespaces labelled podhooks.io/debug=allowed; ' +
      'namespace dev has no label podhooks.io/debug. Fix: remove the annotation, or ask a cluster admin to run kubectl label namespace dev podhooks.io/debug=allowed',
  );
});

test('denied, saying why, when the labels cannot be read', async () => {
  const { ctx } = context(new Error('reading labels of namespace dev timed out after 1000ms'));
  const out = await validate(request(DEBUG), ctx);
  expect(out.decision).toBe('denied');
  expect(out.response.status?.message).toMatch(/debug mode needs namespace dev to carry label podhooks.io\/debug=allowed, but its labels could not be read \(reading labels of namespace dev timed out after 1000ms\)/);
  const offline = await validate(request(DEBUG), context(undefined).ctx);
  expect(offline.response.status?.message).toMatch(/labels could not be read \(podhooks has no cluster access to read namespace labels\)/);
});

test('pods without debug mode cost no namespace lookup', async () => {
  for (const annotations of [{}, { 'podhooks.io/debug': 'false' }] as Record<string, string>[]) {
    const { ctx, asked } = context({});
    expect((await validate(request(annotations), ctx)).decision).toBe('allowed');
    expect(asked).toEqual([]);
  }
});

test('the label is configurable: key=value or a bare key; the rule can be set to warn', async () => {
  const keyOnly = parseConfig({ debug: { namespaceLabel: 'debug-ok' } });
  expect((await validate(request(DEBUG), context({ ...ENABLED, 'debug-ok': '' }, keyOnly).ctx)).decision).toBe('allowed');
  expect((await validate(request(DEBUG), context(ENABLED, keyOnly).ctx)).response.status?.message).toMatch(/kubectl label namespace dev debug-ok$/);
  const warn = parseConfig({ validation: { rules: { 'debug-namespace': 'warn' } } });
  const out = await validate(request(DEBUG), context(ENABLED, warn).ctx);
  expect(out.decision).toBe('warned');
  expect(out.response.warnings).toEqual(['podhooks debug-namespace: debug mode needs namespace label podhooks.io/debug=allowed']);
  const off = parseConfig({ validation: { rules: { 'debug-namespace': 'off' } } });
  const { ctx, asked } = context(ENABLED, off);
  expect((await validate(request(DEBUG), ctx)).decision).toBe('allowed');
  // Read anyway: is injection on for the namespace, or is the annotation ignored?
  expect(asked).toEqual(['dev']);
});
