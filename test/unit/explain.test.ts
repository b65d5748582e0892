// explain's pieces: label selectors and matchConditions as the apiserver evaluates them, and
// the report over deploy/base/webhooks.yaml (the e2e tier compares it with a real apiserver).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { DEPLOYED_WEBHOOKS } from '../../src/cli/explain';
import { parseConfig } from '../../src/config';
import { evaluateConditions } from '../../src/explain/conditions';
import { explainPod } from '../../src/explain/report';
import { matchSelector } from '../../src/explain/selectors';
import { judgeWebhook, webhooksOf } from '../../src/explain/webhooks';

const webhooks = webhooksOf(parseAllDocuments(readFileSync(DEPLOYED_WEBHOOKS, 'utf8')).map((d) => d.toJS()));
const config = parseConfig({});

function pod(annotations: Record<string, string> = {}, labels: Record<string, string> = {}, containers = ['app']): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', annotations, labels }, spec: { containers: containers.map((name) => ({ name, image: `${name}:1`, command: ['/run'] })) } };
}
function explain(p: V1Pod, namespace: string, labels: Record<string, string> = {}) {
  return explainPod({ pod: p, where: 'pod web', namespace, namespaceLabels: { ...labels, 'kubernetes.io/metadata.name': namespace }, namespaceLabelsFrom: 'test', webhooks, webhooksFrom: 'deploy', config, nativeSidecars: true });
}
const called = (e: ReturnType<typeof explain>) => e.webhooks.filter((w) => w.outcome === 'called').map((w) => w.webhook);

describe('label selectors', () => {
  test.each([
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, { a: 'x' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, {}, false],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }, false],
    [{ matchLabels: { a: 'x' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }, { a: 'x' }, false],
    [undefined, { a: 'x' }, true],
    [{}, {}, true],
  ])('%j on %j matches: %s', (selector, labels, expected) => {
    expect(matchSelector(selector as never, labels).matches).toBe(expected);
  });

  test('a failing requirement says what it needs and what the label is', () => {
    expect(matchSelector({ matchExpressions: [{ key: 'podhooks.io/injection', operator: 'In', values: ['enabled'] }] }, {}).reasons).toEqual(['needs podhooks.io/injection In [enabled] (label is not set)']);
  });
});

describe('matchConditions', () => {
  test('CEL over the pod: has(), exists(), in, and a runtime error reported as such', () => {
    const results = evaluateConditions(
      [
        { name: 'annotated', expression: "has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('podhooks.io/'))" },
        { name: 'replicas', expression: 'object.spec.replicas > 1' },
        { name: 'syntax', expression: 'object.metadata.(' },
        { name: 'not-bool', expression: 'object.metadata.name' },
      ],
      { object: pod({ 'podhooks.io/pre-start': 'x' }), oldObject: null, request: { operation: 'CREATE' } },
    );
    expect(results.map((r) => [r.name, typeof r.result === 'string' ? 'error' : r.result])).toEqual([
      ['annotated', true],
      ['replicas', 'error'],
      ['syntax', 'error'],
      ['not-bool', 'error'],
    ]);
  });

  test('an erroring condition: failurePolicy Fail rejects the pod, Ignore skips the webhook', () => {
    const hook = { ...webhooks[0], matchConditions: [{ name: 'bad', expression: 'object.spec.nope == 1' }] };
    const labels = { 'podhooks.io/injection': 'enabled', 'kubernetes.io/metadata.name': 'shop' };
    expect(judgeWebhook(hook, pod(), 'shop', labels).outcome).toBe('rejected');
    expect(judgeWebhook({ ...hook, failurePolicy: 'Ignore' }, pod(), 'shop', labels).outcome).toBe('skipped');
  });
});

describe('explainPod over deploy/base/webhooks.yaml', () => {
  test('an opted-in namespace: the namespace webhook and the validator are called; injection targets the listed container only', () => {
    const e = explain(pod({ 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/containers': 'app' }, {}, ['app', 'side']), 'shop', { 'podhooks.io/injection': 'enabled' });
    expect(called(e)).toEqual(['namespace.podhooks.io', 'validate.podhooks.io']);
    expect(e.injection).toMatchObject({ outcome: 'injected', targets: ['app'], notTargets: [{ container: 'side', reason: 'not listed in podhooks.io/containers (app)' }] });
    expect(e.injection.added.initContainers).toEqual(['podhooks-tools', 'podhooks-logs']);
  });

  test('a namespace that did not opt in: no mutating webhook, and the reason names the missing label', () => {
    const e = explain(pod({ 'podhooks.io/pre-start': 'echo hi' }), 'shop');
    expect(called(e)).toEqual(['validate.podhooks.io']);
    expect(e.webhooks[0].reasons).toEqual(['namespaceSelector needs podhooks.io/injection In [enabled] (label is not set)']);
    expect(e.injection.outcome).toBe('not-called');
  });

  test('the pod label podhooks.io/inject=true opts in through object.podhooks.io', () => {
    expect(called(explain(pod({ 'podhooks.io/pre-start': 'echo hi' }, { 'podhooks.io/inject': 'true' }), 'shop'))).toEqual(['object.podhooks.io', 'validate.podhooks.io']);
  });

  test('opt-out label, no annotation, kube-system: skipped with the reason', () => {
    const optOut = explain(pod({ 'podhooks.io/pre-start': 'echo hi' }, { 'podhooks.io/inject': 'false' }), 'shop', { 'podhooks.io/injection': 'enabled' });
    expect(optOut.webhooks[0].reasons).toEqual(['objectSelector needs podhooks.io/inject NotIn [false] (label is "false") on the pod']);
    const bare = explain(pod(), 'shop', { 'podhooks.io/injection': 'enabled' });
    expect(bare.webhooks[0].reasons).toEqual(['matchCondition has-podhooks-annotation is false']);
    const system = explain(pod({ 'podhooks.io/pre-start': 'echo hi' }), 'kube-system', { 'podhooks.io/injection': 'enabled' });
    expect(called(system)).toEqual([]);
  });

  test('a debug pod goes to the fail-closed debug webhook, whose policy denies it outside allowed namespaces', () => {
    const e = explain(pod({ 'podhooks.io/debug': 'true' }), 'shop', { 'podhooks.io/injection': 'enabled' });
    expect(called(e)).toEqual(['namespace.podhooks.io', 'debug.podhooks.io']);
    expect(e.validation.findings.map((f) => [f.rule, f.action])).toEqual([['debug-namespace', 'deny']]);
  });

  test('a bad annotation: the mutating webhook denies, and says why', () => {
    const e = explain(pod({ 'podhooks.io/log-stream': 'yes' }), 'shop', { 'podhooks.io/injection': 'enabled' });
    expect(e.injection.outcome).toBe('denied');
    expect(e.injection.errors[0]).toContain('podhooks.io/log-stream="yes"');
  });

  test('a container without command needs the registry: explain says so instead of guessing', () => {
    const p = pod({ 'podhooks.io/pre-start': 'echo hi' });
    delete p.spec!.containers[0].command;
    const e = explain(p, 'shop', { 'podhooks.io/injection': 'enabled' });
    expect(e.injection).toMatchObject({ outcome: 'injected', registryLookups: [{ container: 'app', image: 'app:1' }] });
  });
});
