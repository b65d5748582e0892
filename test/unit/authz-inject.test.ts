import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch } from 'fast-json-patch';
import { mutate, type AdmissionContext } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { parseConfig } from '../../src/config';
import { authzPorts } from '../../src/mutate/authz';
import { injectPod } from '../../src/mutate/inject';
import { uninject } from '../../src/mutate/uninject';

const config = parseConfig({ authz: { whitelistPorts: [8080, 9090] } });

function pod(annotations: Record<string, string>, ports: number[] = [8443, 8080], extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-5f6d7-', namespace: 'shop', labels: { app: 'web' }, annotations },
    spec: { containers: [{ name: 'app', image: 'x', command: ['/app'], ports: ports.map((containerPort) => ({ containerPort })) }], ...extra },
  };
}
const request = (object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object, ...extra });

/** A context whose pacer hands out 100, 200, ... and records each call. */
function pacedContext() {
  const calls: { dryRun: boolean }[] = [];
  const ctx: AdmissionContext = { config, nativeSidecars: true, authzOffset: (_p, _ns, dryRun) => (calls.push({ dryRun }), 100 * calls.length) };
  return { ctx, calls };
}
const patched = (original: V1Pod, response: { patch?: string }) => applyPatch(structuredClone(original), JSON.parse(Buffer.from(response.patch!, 'base64').toString())).newDocument;
const authzInit = (p: V1Pod) => p.spec!.initContainers?.find((c) => c.name === 'podhooks-authz');
const env = (p: V1Pod, name: string) => authzInit(p)!.env!.find((e) => e.name === name);

test('ports: declared ports of app containers and native sidecars, minus the whitelist, unique and sorted', () => {
  const p = pod({}, [8443, 8080, 8443], { initContainers: [{ name: 'proxy', image: 'y', restartPolicy: 'Always', ports: [{ containerPort: 7000 }] }, { name: 'once', image: 'z', ports: [{ containerPort: 6000 }] }] });
  expect(authzPorts(p, {}, config)).toEqual([7000, 8443]);
  expect(authzPorts(p, { ports: [9090, 5432, 443] }, config)).toEqual([443, 5432]);
});

test('the init container: restricted, from the tools image, pod IP and uid from the downward API', () => {
  const out = injectPod(pod({ 'podhooks.io/authz': 'true' }), { config, nativeSidecars: true }).pod;
  const c = authzInit(out)!;
  expect(c.command).toEqual(['/opt/podhooks/bin/podhooks-authz']);
  expect(c.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  expect(c.resources?.limits).toBeDefined();
  expect(env(out, 'PODHOOKS_POD_IP')).toEqual({ name: 'PODHOOKS_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
  expect(env(out, 'PODHOOKS_POD_UID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.uid');
  expect(env(out, 'PODHOOKS_AUTHZ_PORTS')?.value).toBe('8443');
  expect(out.spec!.volumes).toBeUndefined(); // runs from the image: no shared volume needed
});

test('a namespace default turns authz on without the annotation', () => {
  const cfg = parseConfig({ authz: { namespaceDefault: ['shop'] } });
  expect(authzInit(injectPod(pod({}), { config: cfg, nativeSidecars: true }).pod)).toBeDefined();
  expect(authzInit(injectPod(pod({ 'podhooks.io/authz': 'false' }), { config: cfg, nativeSidecars: true }).pod)).toBeUndefined();
});

test('uninject restores the pod exactly as written', () => {
  const original = pod({ 'podhooks.io/authz': 'true', 'podhooks.io/pre-start': 'echo hi' });
  const out = injectPod(original, { config, nativeSidecars: true, authzStartOffsetMs: 1500 }).pod;
  expect(out.metadata!.annotations!['podhooks.io/authz-start-offset-ms']).toBe('1500');
  expect(uninject(out).pod).toEqual(original);
});

test('admission: the offset is written once; reinvocation keeps it and takes no second token', async () => {
  const { ctx, calls } = pacedContext();
  const original = pod({ 'podhooks.io/authz': 'true' });
  const first = await mutate(request(original), ctx);
  expect(first.decision).toBe('patched');
  const injected = patched(original, first.response);
  expect(injected.metadata!.annotations!['podhooks.io/authz-start-offset-ms']).toBe('100');
  const again = await mutate(request(injected), ctx);
  expect(again.decision).toBe('allowed');
  expect(calls).toEqual([{ dryRun: false }]);
});

test('admission: a dry run asks for a look, not a token', async () => {
  const { ctx, calls } = pacedContext();
  await mutate(request(pod({ 'podhooks.io/authz': 'true' }), { dryRun: true }), ctx);
  expect(calls).toEqual([{ dryRun: true }]);
});

test('admission: no token for whitelisted-only pods, denied pods or pods without authz', async () => {
  const { ctx, calls } = pacedContext();
  const whitelisted = await mutate(request(pod({ 'podhooks.io/authz': 'true' }, [8080, 9090])), ctx);
  expect(whitelisted).toMatchObject({ decision: 'allowed', reason: 'nothing to inject' });
  const denied = await mutate(request(pod({ 'podhooks.io/authz': 'true', 'podhooks.io/debug': 'maybe' })), ctx);
  expect(denied.decision).toBe('denied');
  await mutate(request(pod({ 'podhooks.io/pre-start': 'echo hi' })), ctx);
  expect(calls).toEqual([]);
});

test('config: a backoff cap below the base is refused, naming the field and the value', () => {
  expect(() => parseConfig({ authz: { baseBackoffMs: 500, maxBackoffMs: 100 } })).toThrow(/authz\.maxBackoffMs: must be at least authz\.baseBackoffMs \(got 100\)/);
});
