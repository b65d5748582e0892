// Reports as the audit keeps them: one per namespace, one result per pod and rule (several
// fields of one rule joined), severity from the action, the first-found time kept while a
// violation persists, results beyond the cap counted instead of listed.
import { buildReports, MAX_RESULTS } from '../../src/audit/reports';
import type { AuditReport, AuditViolation } from '../../src/audit/scan';

const v = (over: Partial<AuditViolation>): AuditViolation => ({ namespace: 'shop', pod: 'vm', uid: 'u-vm', rule: 'sandbox-host-namespaces', action: 'deny', field: 'spec.hostPID', message: 'm1', ...over });
const audit = (violations: AuditViolation[]): AuditReport => ({ pods: 3, exempt: 0, violations, denied: true });
const t0 = new Date('2026-01-01T00:00:00Z');

test('one Report per namespace, one result per pod and rule, with severity, message and time', () => {
  const reports = buildReports(
    audit([
      v({}),
      v({ field: 'spec.hostIPC', message: 'm2' }),
      v({ rule: 'sandbox-host-path', action: 'warn', field: 'spec.volumes[l].hostPath.path', message: 'w', owner: 'ReplicaSet/web-1' }),
      v({ namespace: 'batch', pod: 'job', uid: 'u-job', rule: 'placement', action: 'audit', field: 'spec.runtimeClassName', message: 'a' }),
    ]),
    t0,
  );
  expect([...reports.keys()]).toEqual(['shop', 'batch']);
  const shop = reports.get('shop')!;
  expect(shop.metadata).toEqual({ name: 'podhooks-policy', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'podhooks', 'app.kubernetes.io/name': 'podhooks' } });
  expect(shop.scope).toEqual({ apiVersion: 'v1', kind: 'Namespace', name: 'shop' });
  expect(shop.summary).toEqual({ pass: 0, fail: 1, warn: 1, error: 0, skip: 0 });
  expect(shop.results).toEqual([
    {
      source: 'podhooks',
      policy: 'podhooks-sandbox-host-namespaces',
      rule: 'sandbox-host-namespaces',
      result: 'fail',
      severity: 'high',
      scored: true,
      timestamp: { seconds: 1767225600, nanos: 0 },
      message: 'm1; m2',
      resources: [{ apiVersion: 'v1', kind: 'Pod', name: 'vm', namespace: 'shop', uid: 'u-vm' }],
      properties: { action: 'deny', fields: 'spec.hostPID, spec.hostIPC' },
    },
    expect.objectContaining({ rule: 'sandbox-host-path', result: 'warn', severity: 'medium', scored: false, properties: { action: 'warn', fields: 'spec.volumes[l].hostPath.path', owner: 'ReplicaSet/web-1' } }),
  ]);
  expect(reports.get('batch')!.results[0]).toMatchObject({ result: 'warn', severity: 'low', properties: { action: 'audit' } });
});

test('a violation that persists keeps its first-found time; a changed one or a new pod of the same name gets the new time', () => {
  const first = buildReports(audit([v({}), v({ pod: 'other', uid: 'u-other' })]), t0);
  const later = new Date('2026-01-02T00:00:00Z');
  const again = buildReports(audit([v({}), v({ pod: 'other', uid: 'u-other', message: 'changed' }), v({ pod: 'new', uid: 'u-new' })]), later, first);
  const times = Object.fromEntries(again.get('shop')!.results.map((r) => [r.resources[0].name, r.timestamp.seconds]));
  expect(times).toEqual({ vm: 1767225600, other: 1767312000, new: 1767312000 });
  const recreated = buildReports(audit([v({ uid: 'u-vm-2' })]), later, first);
  expect(recreated.get('shop')!.results[0].timestamp.seconds).toBe(1767312000);
});

test('beyond the cap results are counted in the summary and the annotation, not listed', () => {
  const many = Array.from({ length: MAX_RESULTS + 5 }, (_, i) => v({ pod: `p${String(i).padStart(4, '0')}`, uid: `u${i}` }));
  const report = buildReports(audit(many), t0).get('shop')!;
  expect(report.results).toHaveLength(MAX_RESULTS);
  expect(report.summary.fail).toBe(MAX_RESULTS + 5);
  expect(report.metadata.annotations).toEqual({ 'podhooks.io/results-not-listed': '5' });
});

test('no violations, no Reports', () => {
  expect(buildReports(audit([]), t0).size).toBe(0);
});
