// The rules rendered as ValidatingAdmissionPolicies: one message template for both
// languages, one policy and binding per rule with its own action, the config compiled in,
// deterministic output with a digest per object, and drift found by comparing digests.
// (That the CEL decides like the TypeScript is shown on a real apiserver:
// test/e2e/policy-parity.test.ts.)
import { parseConfig } from '../../src/config';
import { compareWithCluster } from '../../src/validate/admission-policy/drift';
import { DIGEST, digestOf, renderPolicies } from '../../src/validate/admission-policy/render';
import { rule } from '../../src/validate/rule';
import { RULES } from '../../src/validate/rules';
import { cel, celQuote, t, template } from '../../src/validate/text';
import { renderText } from '../../src/cli/policy';

test('a message template renders plain text and the same text as a CEL expression', () => {
  const m = template<'rc' | 'field'>(({ rc, field }) => t`runtimeClassName "${rc}" can't: remove ${field}`);
  expect(m.text({ rc: 'kata', field: 'spec.hostPID' })).toBe('runtimeClassName "kata" can\'t: remove spec.hostPID');
  expect(m.cel({ rc: cel('variables.rc'), field: 'spec.hostPID' })).toBe("'runtimeClassName \"' + (variables.rc) + '\" can\\'t: remove spec.hostPID'");
  expect(celQuote('a\\b\nc')).toBe("'a\\\\b\\u000ac'");
});

describe('renderPolicies', () => {
  const byKind = (objects: any[], kind: string) => objects.filter((o) => o.kind === kind);
  test('one policy and one binding per rule, each with its own actions; Deny and Warn keep an Audit record', () => {
    const { objects, skipped } = renderPolicies(parseConfig({ validation: { rules: { 'sandbox-subpath': 'audit' } } }));
    expect(skipped).toEqual([]);
    const bindings = byKind(objects, 'ValidatingAdmissionPolicyBinding');
    expect(byKind(objects, 'ValidatingAdmissionPolicy').map((p) => p.metadata.name)).toEqual(RULES.map((r) => `podhooks-${r.id}`));
    expect(Object.fromEntries(bindings.map((b) => [b.metadata.annotations['podhooks.io/rule'], b.spec.validationActions]))).toEqual({
      'sandbox-host-namespaces': ['Deny', 'Audit'],
      'sandbox-share-process-namespace': ['Deny', 'Audit'],
      'sandbox-privileged': ['Deny', 'Audit'],
      'sandbox-subpath': ['Audit'],
      'sandbox-proc-mounts': ['Deny', 'Audit'],
      'sandbox-host-path': ['Warn', 'Audit'],
      placement: ['Deny', 'Audit'],
      'debug-namespace': ['Deny', 'Audit'],
    });
    for (const b of bindings) {
      expect(b.spec.matchResources.namespaceSelector.matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'podhooks'] }]);
    }
  });
  test('pods, ephemeral containers and the workload kinds; fail closed; the config compiled in as variables', () => {
    const policy = renderPolicies(parseConfig({ validation: { exemptNamespaces: ['legacy'] } })).objects[0] as any;
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.paramKind).toBeUndefined();
    expect(policy.spec.matchConstraints.resourceRules.flatMap((r: any) => r.resources)).toEqual(['pods', 'pods/ephemeralcontainers', 'replicationcontrollers', 'deployments', 'statefulsets', 'daemonsets', 'replicasets', 'jobs', 'cronjobs']);
    const vars = Object.fromEntries(policy.spec.variables.map((v: any) => [v.name, v.expression]));
    expect(vars.sandboxRuntimeClasses).toBe("['kata*', 'gvisor', 'runsc']");
    expect(vars.exemptNamespaces).toBe("['legacy']");
    expect(vars.podhooksNamespace).toBe("'podhooks'");
    expect(policy.spec.validations).toEqual([
      { expression: 'variables.exempt || size(variables.added) == 0', messageExpression: "variables.added.map(v, 'podhooks sandbox-host-namespaces: ' + v.message).join('; ')", reason: 'Forbidden' },
    ]);
  });
  test('warn rules carry the short form, under 120 characters like the webhook\'s warnings', () => {
    const hostPath = renderPolicies(parseConfig({})).objects.find((o: any) => o.metadata.name === 'podhooks-sandbox-host-path' && o.kind === 'ValidatingAdmissionPolicy') as any;
    expect(hostPath.spec.validations[0].messageExpression).toContain('v.summary).size() <= 120');
  });
  test('a rule that is off gets neither policy nor binding, and says so', () => {
    const { objects, skipped } = renderPolicies(parseConfig({ validation: { rules: { placement: 'off' } } }));
    expect(objects.some((o: any) => o.metadata.name === 'podhooks-placement')).toBe(false);
    expect(skipped).toEqual([{ rule: 'placement', reason: 'off in validation.rules' }]);
    expect(renderText(parseConfig({ validation: { rules: { placement: 'off' } } }), 'yaml').out).toContain('# not rendered: placement (off in validation.rules)\n');
  });
  test('a rule CEL cannot express is not rendered, and the output says why', () => {
    const webhookOnly = rule({ id: 'needs-a-lookup', description: 'a rule that reads what CEL cannot', defaultAction: 'deny', check: () => [], cel: { unsupported: 'it reads the image registry' } });
    const { objects, skipped } = renderPolicies(parseConfig({}), [...RULES, webhookOnly]);
    expect(objects).toHaveLength(RULES.length * 2);
    expect(skipped).toEqual([{ rule: 'needs-a-lookup', reason: 'not expressible in CEL: it reads the image registry' }]);
  });
  test('deterministic, with each object\'s digest over its own content', () => {
    const config = parseConfig({});
    expect(renderText(config, 'yaml').out).toBe(renderText(parseConfig({}), 'yaml').out);
    for (const o of renderPolicies(config).objects) expect(o.metadata!.annotations![DIGEST]).toBe(digestOf(o));
    const other = renderPolicies(parseConfig({ validation: { sandboxRuntimeClasses: ['kata*'] } })).objects;
    expect(other[0].metadata!.annotations![DIGEST]).not.toBe(renderPolicies(config).objects[0].metadata!.annotations![DIGEST]);
  });
  test('a line break in a compiled value cannot break the CEL literal', () => {
    const policy = renderPolicies(parseConfig({ validation: { procMountAllowlist: ["/proc/x'\n"] } })).objects[0] as any;
    expect(policy.spec.variables.find((v: any) => v.name === 'procMountAllowlist').expression).toBe("['/proc/x\\'\\u000a']");
  });
});

describe('compareWithCluster', () => {
  const config = parseConfig({ validation: { rules: { placement: 'off' } } });
  const rendered = new Map(renderPolicies(config).objects.map((o) => [`${o.kind}/${o.metadata!.name}`, o]));
  test('in sync when every rendered object is there with its digest, and nothing else', async () => {
    const read = (kind: string) => async (name: string) => rendered.get(`${kind}/${name}`);
    expect(await compareWithCluster(config, read('ValidatingAdmissionPolicy'), read('ValidatingAdmissionPolicyBinding'))).toEqual([]);
  });
  test('missing, differing and unexpected objects are each named with the fix', async () => {
    const policies = async (name: string) => (name === 'podhooks-sandbox-subpath' ? undefined : name === 'podhooks-placement' ? { metadata: {} } : rendered.get(`ValidatingAdmissionPolicy/${name}`));
    const bindings = async (name: string) => (name === 'podhooks-debug-namespace' ? { metadata: { annotations: { [DIGEST]: 'old' } } } : rendered.get(`ValidatingAdmissionPolicyBinding/${name}`));
    expect(await compareWithCluster(config, policies, bindings)).toEqual([
      { kind: 'ValidatingAdmissionPolicy', name: 'podhooks-sandbox-subpath', problem: 'missing', detail: 'apply the output of `podhooks policy render` for this config' },
      { kind: 'ValidatingAdmissionPolicy', name: 'podhooks-placement', problem: 'unexpected', detail: 'rule placement is off in this config: delete validatingadmissionpolicy podhooks-placement' },
      { kind: 'ValidatingAdmissionPolicyBinding', name: 'podhooks-debug-namespace', problem: 'differs', detail: 'rendered from another config or podhooks version: apply the output of `podhooks policy render` for this config' },
    ]);
  });
});
