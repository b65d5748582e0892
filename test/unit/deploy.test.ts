// deploy/ stays what the code says: the rendered policies are current for base/config.yaml,
// their RBAC names every policy, and the validating webhooks see what the policies see.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfigOrConfigMap, renderText } from '../../src/cli/policy';
import { CHANGES_THE_POD, policyName, TEMPLATE_RESOURCES } from '../../src/validate/admission-policy/render';
import { RULES } from '../../src/validate/rules';

const ROOT = join(__dirname, '../..');
const docs = (file: string) => parseAllDocuments(readFileSync(join(ROOT, file), 'utf8')).map((d) => d.toJS());

test('deploy/policies/policies.yaml is what deploy/base/config.yaml renders (npm run deploy:policies)', () => {
  const rendered = renderText(loadConfigOrConfigMap(join(ROOT, 'deploy/base/config.yaml')), 'yaml').out;
  expect(readFileSync(join(ROOT, 'deploy/policies/policies.yaml'), 'utf8')).toBe(rendered);
});

test('the drift check may read exactly the policies podhooks renders', () => {
  const role = docs('deploy/policies/rbac.yaml').find((d) => d.kind === 'ClusterRole');
  expect(role.rules).toEqual([
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingadmissionpolicies', 'validatingadmissionpolicybindings'], verbs: ['get'], resourceNames: RULES.map(policyName) },
  ]);
});

test('the validating webhooks and the policies match the same requests', () => {
  const vwc = docs('deploy/base/webhooks.yaml').find((d) => d.kind === 'ValidatingWebhookConfiguration');
  for (const hook of vwc.webhooks) {
    expect(hook.matchConditions.find((c: any) => c.name === 'changes-the-pod').expression).toBe(CHANGES_THE_POD);
    expect(hook.rules.flatMap((r: any) => r.resources).sort()).toEqual(['pods', 'pods/ephemeralcontainers', ...TEMPLATE_RESOURCES.flatMap((r) => r.resources)].sort());
    expect(hook.namespaceSelector.matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'podhooks'] }]);
  }
});
