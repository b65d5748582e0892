// deploy/ as a platform team applies it, on a fresh control plane of its own (the
// admission tests register the same webhook configurations with a URL instead).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';

jest.setTimeout(120_000);
let cp: ControlPlane;
beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: false });
});
afterAll(async () => {
  await cp?.stop();
});

test('kubectl apply -k deploy/ --dry-run=server succeeds', () => {
  // Namespaced objects are dry-run into a namespace that must exist.
  expect(cp.kubectl(['apply', '-f', join(ROOT, 'deploy/base/namespace.yaml')]).code).toBe(0);
  const r = cp.kubectl(['apply', '-k', join(ROOT, 'deploy'), '--dry-run=server']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const object of [
    'deployment.apps/podhooks',
    'poddisruptionbudget.policy/podhooks',
    'service/podhooks',
    'clusterrole.rbac.authorization.k8s.io/podhooks',
    'mutatingwebhookconfiguration.admissionregistration.k8s.io/podhooks',
    'validatingwebhookconfiguration.admissionregistration.k8s.io/podhooks',
  ]) {
    expect(r.stdout).toContain(`${object} created (server dry run)`);
  }
});

test('kubectl apply -k deploy/overlays/self-managed --dry-run=server succeeds, without a Secret volume', () => {
  expect(cp.kubectl(['apply', '-f', join(ROOT, 'deploy/base/namespace.yaml')]).code).toBe(0);
  const r = cp.kubectl(['apply', '-k', join(ROOT, 'deploy/overlays/self-managed'), '--dry-run=server', '-o', 'yaml']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const objects = parseAllDocuments(r.stdout).flatMap((d) => (d.toJS().kind === 'List' ? d.toJS().items : [d.toJS()]));
  const byKind = (kind: string, name: string) => objects.find((o: any) => o.kind === kind && o.metadata.name === name);
  const pod = byKind('Deployment', 'podhooks').spec.template.spec;
  expect(pod.volumes.map((v: any) => v.name)).toEqual(['config']);
  expect(pod.containers[0].volumeMounts.map((v: any) => v.name)).toEqual(['config']);
  expect(pod.containers[0].args).toEqual(['serve', '--config', '/etc/podhooks/config.yaml', '--certificates-mode=secret']);
  // The replicas may write only their own Secret and the two webhook configurations.
  expect(byKind('Role', 'podhooks-certificates').rules).toEqual([
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['podhooks-tls', 'podhooks-ca'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['podhooks-certificates'], verbs: ['get', 'update'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  ]);
  expect(byKind('ClusterRole', 'podhooks-certificates').rules[0].resourceNames).toEqual(['podhooks']);
});

test('deploy/overlays/cert-manager builds: CA chain, serving Certificate into podhooks-tls, inject-ca-from on both configurations', () => {
  // Server-side dry run would need cert-manager's CRDs; the build is checked client-side.
  const r = cp.kubectl(['kustomize', join(ROOT, 'deploy/overlays/cert-manager')]);
  expect(r.stderr).toBe('');
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const annotations = objects.filter((o: any) => /WebhookConfiguration$/.test(o.kind)).map((o: any) => [o.kind, o.metadata.annotations?.['cert-manager.io/inject-ca-from']]);
  expect(annotations).toEqual([
    ['MutatingWebhookConfiguration', 'podhooks/podhooks-serving'],
    ['ValidatingWebhookConfiguration', 'podhooks/podhooks-serving'],
  ]);
  const serving = objects.find((o: any) => o.kind === 'Certificate' && o.metadata.name === 'podhooks-serving');
  expect(serving.metadata.namespace).toBe('podhooks');
  expect(serving.spec.secretName).toBe('podhooks-tls');
  expect(serving.spec.issuerRef).toEqual({ name: 'podhooks-ca', kind: 'Issuer' });
  expect(serving.spec.dnsNames).toContain('podhooks.podhooks.svc');
  // The Deployment mounts the Secret cert-manager writes.
  const pod = objects.find((o: any) => o.kind === 'Deployment').spec.template.spec;
  expect(pod.volumes).toContainEqual({ name: 'certs', secret: { secretName: 'podhooks-tls' } });
});

test('the base as kustomize renders it: HA, hardening, webhook safety, least-privilege RBAC', () => {
  const r = cp.kubectl(['kustomize', join(ROOT, 'deploy')]);
  expect(r.stderr).toBe('');
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const get = (kind: string, name = 'podhooks') => objects.find((o: any) => o.kind === kind && o.metadata.name === name);
  const deploy = get('Deployment');
  expect(deploy.spec.replicas).toBe(2);
  const pod = deploy.spec.template.spec;
  expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
  const c = pod.containers[0];
  expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual(['/readyz', '/healthz']);
  expect(Object.keys(c.resources).sort()).toEqual(['limits', 'requests']);
  expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  expect(pod.securityContext.runAsNonRoot).toBe(true);
  expect(get('PodDisruptionBudget').spec.minAvailable).toBe(1);
  const hooks = objects.filter((o: any) => /WebhookConfiguration$/.test(o.kind)).flatMap((o: any) => o.webhooks.map((h: any) => ({ kind: o.kind, ...h })));
  expect(hooks.map((h: any) => [h.name, h.failurePolicy, h.reinvocationPolicy])).toEqual([
    ['namespace.podhooks.io', 'Fail', 'IfNeeded'],
    ['object.podhooks.io', 'Fail', 'IfNeeded'],
    ['placement.podhooks.io', 'Ignore', 'IfNeeded'],
    ['validate.podhooks.io', 'Ignore', undefined],
    ['debug.podhooks.io', 'Fail', undefined],
  ]);
  for (const h of hooks) {
    expect([h.name, h.sideEffects, h.timeoutSeconds <= 10]).toEqual([h.name, 'NoneOnDryRun', true]);
    const excluded = h.namespaceSelector.matchExpressions.find((e: any) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn').values;
    expect(excluded).toEqual(expect.arrayContaining(['kube-system', 'podhooks']));
    expect(h.clientConfig.service).toEqual(expect.objectContaining({ name: 'podhooks', namespace: 'podhooks' }));
  }
  // Only what the default configuration calls: namespace labels, RuntimeClasses (placement)
  // and Events. No pods, no Leases, no Secrets, no webhook configurations, no wildcard.
  expect(objects.filter((o: any) => o.kind === 'ClusterRole' || o.kind === 'Role').map((o: any) => [o.kind, o.metadata.name, o.rules])).toEqual([
    [
      'ClusterRole',
      'podhooks',
      [
        { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
        { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['get'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    ],
  ]);
  const rules = objects.filter((o: any) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o: any) => o.rules);
  for (const rule of rules) {
    expect(rule.verbs).not.toContain('*');
    expect(rule.resources).not.toContain('*');
    expect(rule.resources).not.toContain('secrets');
    expect(rule.resources).not.toContain('mutatingwebhookconfigurations');
  }
});

/** A kustomization of the user's: deploy/ (or an overlay) plus podhooks' components. */
function withComponents(base: string, components: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-kustomize-'));
  const rel = (p: string) => relative(dir, join(ROOT, p));
  writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify({ resources: [rel(base)], components: components.map(rel) }));
  return dir;
}

test('components/engine-both and reports-crd apply (server dry run): the policies, their drift-check RBAC, the Report CRD, the engine flag', () => {
  expect(cp.kubectl(['apply', '-f', join(ROOT, 'deploy/base/namespace.yaml')]).code).toBe(0);
  const dir = withComponents('deploy', ['deploy/components/engine-both', 'deploy/components/reports-crd']);
  const r = cp.kubectl(['apply', '-k', dir, '--dry-run=server', '-o', 'yaml']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const objects = parseAllDocuments(r.stdout).flatMap((d) => (d.toJS().kind === 'List' ? d.toJS().items : [d.toJS()]));
  const names = (kind: string) => objects.filter((o: any) => o.kind === kind).map((o: any) => o.metadata.name);
  expect(names('ValidatingAdmissionPolicy')).toHaveLength(8);
  expect(names('ValidatingAdmissionPolicyBinding')).toHaveLength(8);
  expect(names('CustomResourceDefinition')).toEqual(['reports.openreports.io']);
  expect(names('ClusterRole')).toEqual(expect.arrayContaining(['podhooks', 'podhooks-admission-policies']));
  expect(names('ValidatingWebhookConfiguration')).toEqual(['podhooks']);
  expect(objects.find((o: any) => o.kind === 'Deployment').spec.template.spec.containers[0].args).toEqual(['serve', '--config', '/etc/podhooks/config.yaml', '--validation-engine=both']);
});

test('components/engine-admission-policy empties the validating webhook configuration and keeps the mutating one', () => {
  const r = cp.kubectl(['kustomize', withComponents('deploy/overlays/self-managed', ['deploy/components/engine-admission-policy'])]);
  expect(r.stderr).toBe('');
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS());
  expect(objects.find((o: any) => o.kind === 'ValidatingWebhookConfiguration').webhooks).toEqual([]);
  expect(objects.find((o: any) => o.kind === 'MutatingWebhookConfiguration').webhooks.length).toBeGreaterThan(0);
  expect(objects.filter((o: any) => o.kind === 'ValidatingAdmissionPolicy')).toHaveLength(8);
  expect(objects.find((o: any) => o.kind === 'Deployment').spec.template.spec.containers[0].args).toEqual(['serve', '--config', '/etc/podhooks/config.yaml', '--certificates-mode=secret', '--validation-engine=admission-policy']);
});

test('the opt-in components: periodic audit (its RBAC and flag) and the NetworkPolicy apply with the base', () => {
  expect(cp.kubectl(['apply', '-f', join(ROOT, 'deploy/base/namespace.yaml')]).code).toBe(0);
  const r = cp.kubectl(['apply', '-k', withComponents('deploy', ['deploy/components/periodic-audit', 'deploy/components/network-policy']), '--dry-run=server', '-o', 'yaml']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const objects = parseAllDocuments(r.stdout).flatMap((d) => (d.toJS().kind === 'List' ? d.toJS().items : [d.toJS()]));
  const byKind = (kind: string, name: string) => objects.find((o: any) => o.kind === kind && o.metadata.name === name);
  expect(byKind('Deployment', 'podhooks').spec.template.spec.containers[0].args).toContain('--audit-interval-seconds=300');
  expect(byKind('ClusterRole', 'podhooks-audit').rules).toEqual([
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    { apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['list', 'create', 'update', 'delete'] },
  ]);
  const policy = byKind('NetworkPolicy', 'podhooks');
  expect(policy.metadata.namespace).toBe('podhooks');
  expect(policy.spec.policyTypes).toEqual(['Ingress']);
  expect(policy.spec.ingress.map((i: any) => i.ports.map((p: any) => p.port))).toEqual([[8443], [9090]]);
});
