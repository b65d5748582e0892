// What the validating webhook judges (pods, ephemeral containers, workload templates) and
// how: templates as their pods will be admitted (after podhooks' injection), annotation
// errors reported on the workload, and hook annotations nobody will act on warned about.
import type { V1Pod } from '@kubernetes/client-node';
import { validate } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { parseConfig } from '../../src/config';
import { asAdmitted, injectionSeesPod, notEnabledFinding } from '../../src/validate/admitted';
import { judge } from '../../src/validate/judge';
import { subjectOf } from '../../src/validate/subject';

const config = parseConfig({});
const ENABLED = { labels: { 'podhooks.io/injection': 'enabled' } };
const OFF = { labels: { team: 'shop' } };

function deployment(template: V1Pod['spec'], annotations?: Record<string, string>, labels: Record<string, string> = { app: 'web' }) {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { matchLabels: labels }, template: { metadata: { labels, annotations }, spec: template } } };
}
function req(kind: string, group: string, object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { uid: 'u', kind: { group, version: 'v1', kind }, namespace: 'shop', name: 'web', operation: 'CREATE', object, ...extra } as AdmissionRequest;
}
const kata = (extra: Partial<NonNullable<V1Pod['spec']>> = {}): NonNullable<V1Pod['spec']> => ({ runtimeClassName: 'kata', containers: [{ name: 'app', image: 'x', command: ['/app'] }], ...extra });

describe('subjectOf', () => {
  test('pods, their ephemeralcontainers subresource, and the templates of every workload kind', () => {
    const pod = { metadata: { name: 'p' }, spec: kata() };
    expect(subjectOf(req('Pod', '', pod))).toMatchObject({ pod, namespace: 'shop' });
    expect(subjectOf(req('Pod', '', pod, { subResource: 'ephemeralcontainers', operation: 'UPDATE', oldObject: pod }))).toMatchObject({ pod, oldPod: pod });
    expect(subjectOf(req('Pod', '', pod, { subResource: 'status', operation: 'UPDATE' }))).toEqual({ skip: 'subresource status is not validated' });
    expect(subjectOf(req('Pod', '', pod, { operation: 'DELETE' }))).toEqual({ skip: 'operation DELETE is not validated' });
    const d = subjectOf(req('Deployment', 'apps', deployment(kata())));
    expect(d).toMatchObject({ workload: { kind: 'Deployment', name: 'web' }, pod: { metadata: { labels: { app: 'web' }, namespace: 'shop' }, spec: kata() } });
    const cron = { metadata: { name: 'nightly' }, spec: { jobTemplate: { spec: { template: { spec: kata() } } } } };
    expect(subjectOf(req('CronJob', 'batch', cron))).toMatchObject({ workload: { kind: 'CronJob' }, pod: { spec: kata() } });
    expect(subjectOf(req('Deployment', 'extensions', deployment(kata())))).toEqual({ skip: 'kind Deployment is not validated' });
    expect(subjectOf(req('ConfigMap', '', {}))).toEqual({ skip: 'kind ConfigMap is not validated' });
  });
});

describe('templates are judged as their pods will be admitted', () => {
  const hooks = { 'podhooks.io/pre-start': './prepare.sh' };
  test('in an enabled namespace the template is injected first (registry answers stood in for)', () => {
    const pod = { metadata: { annotations: hooks }, spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] } };
    const { pod: admitted, findings } = asAdmitted(pod, 'shop', ENABLED, config);
    expect(findings).toEqual([]);
    expect(admitted.spec!.initContainers!.map((c) => c.name)).toEqual(['podhooks-tools', 'podhooks-logs']);
    expect(admitted.spec!.containers[0].command!.slice(0, 2)).toEqual(['/podhooks/bin/busybox', 'sh']);
    expect(pod.spec.containers[0]).toEqual({ name: 'app', image: 'registry.example.com/app:1' }); // input untouched
  });
  test('where injection is off, or the template opts out, it is judged as written', () => {
    const pod = { metadata: { annotations: hooks }, spec: kata() };
    expect(asAdmitted(pod, 'shop', OFF, config).pod).toBe(pod);
    expect(asAdmitted({ ...pod, metadata: { ...pod.metadata, labels: { 'podhooks.io/inject': 'false' } } }, 'shop', ENABLED, config).pod.spec).toBe(pod.spec);
  });
  test('an annotation error the mutating webhook would refuse is a finding on the workload, deny or warn as injection.invalidAnnotations says', async () => {
    const bad = deployment(kata(), { 'podhooks.io/debug-port': 'x', 'podhooks.io/debug': 'true' });
    const ctx = { config, nativeSidecars: true, namespaces: { labels: async () => ({ ...ENABLED.labels, 'podhooks.io/debug': 'allowed' }) } };
    const out = await validate(req('Deployment', 'apps', bad), ctx);
    expect(out.decision).toBe('denied');
    expect(out.response.status!.message).toBe('podhooks injection-annotations: annotation podhooks.io/debug-port="x": must be a port number from 1 to 65535');
    const warnCtx = { ...ctx, config: parseConfig({ injection: { invalidAnnotations: 'warn' } }) };
    expect((await validate(req('Deployment', 'apps', bad), warnCtx)).response.warnings).toEqual([
      'podhooks injection-annotations: not injected: annotation podhooks.io/debug-port="x": must be a port number from 1 to ...',
    ]);
  });
  test('an UPDATE that leaves the template as it was adds nothing (ReplicaSet scaling, relabelling)', () => {
    const d = deployment(kata({ hostNetwork: true }), { 'podhooks.io/pre-online': 'x' });
    const subject = subjectOf(req('Deployment', 'apps', d, { operation: 'UPDATE', oldObject: deployment(kata({ hostNetwork: true }), { 'podhooks.io/pre-online': 'x' }) }));
    expect('skip' in subject).toBe(false);
    expect(judge(subject as Exclude<typeof subject, { skip: string }>, ENABLED, config)).toEqual({ findings: [] });
    const changed = subjectOf(req('Deployment', 'apps', d, { operation: 'UPDATE', oldObject: deployment(kata({ hostNetwork: true })) }));
    // The hostNetwork violation was there before; the new annotation error was not.
    expect(judge(changed as Exclude<typeof changed, { skip: string }>, ENABLED, config).findings.map((f) => f.rule)).toEqual(['injection-annotations']);
  });
});

describe('hook annotations where the mutating webhook will not see them', () => {
  const pod = (annotations: Record<string, string>, labels?: Record<string, string>): V1Pod => ({ metadata: { annotations, labels }, spec: kata() });
  test('which pods the mutating webhooks of deploy/ see', () => {
    const hooked = pod({ 'podhooks.io/pre-start': 'x' });
    expect(injectionSeesPod(hooked, 'shop', ENABLED, config)).toBe(true);
    expect(injectionSeesPod(hooked, 'shop', OFF, config)).toBe(false);
    expect(injectionSeesPod(pod({ 'podhooks.io/pre-start': 'x' }, { 'podhooks.io/inject': 'true' }), 'shop', OFF, config)).toBe(true);
    expect(injectionSeesPod(pod({ 'podhooks.io/pre-start': 'x' }, { 'podhooks.io/inject': 'false' }), 'shop', ENABLED, config)).toBe(false);
    expect(injectionSeesPod(pod({}), 'shop', ENABLED, config)).toBe(false);
    expect(injectionSeesPod(hooked, 'kube-public', ENABLED, config)).toBe(false);
    expect(injectionSeesPod(hooked, 'shop', { error: 'timed out' }, config)).toBe(true);
  });
  test('get a warning naming the label to set; opted-out, switched-off and unreadable cases do not', () => {
    expect(notEnabledFinding(pod({ 'podhooks.io/pre-start': 'x', 'podhooks.io/debug': 'true' }), 'shop', OFF, config, true)).toEqual({
      rule: 'injection-not-enabled',
      action: 'warn',
      field: 'metadata.annotations',
      message: 'podhooks.io/pre-start, podhooks.io/debug are ignored: namespace shop is not labelled podhooks.io/injection=enabled. Fix: set label podhooks.io/inject: "true" on the pod template, or label the namespace podhooks.io/injection=enabled',
      summary: 'set pod label podhooks.io/inject=true; namespace shop is not injection-enabled',
    });
    for (const p of [pod({ 'podhooks.io/inject': 'false', 'podhooks.io/pre-start': 'x' }), pod({ 'podhooks.io/debug': 'false' }), pod({ 'podhooks.io/status': '{}' })]) {
      expect(notEnabledFinding(p, 'shop', OFF, config, false)).toBeUndefined();
    }
    expect(notEnabledFinding(pod({ 'podhooks.io/pre-start': 'x' }), 'shop', { error: 'timed out' }, config, false)).toBeUndefined();
    expect(notEnabledFinding(pod({ 'podhooks.io/pre-start': 'x' }), 'shop', ENABLED, config, false)).toBeUndefined();
  });
});
