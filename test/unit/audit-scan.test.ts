// `podhooks audit`'s evaluation and the ops commands' text helpers.
import { auditPods } from '../../src/audit/scan';
import { toRejection } from '../../src/audit/rejections';
import { formatReport } from '../../src/audit/commands';
import { age, parseDuration, table } from '../../src/audit/text';
import { parseConfig } from '../../src/config';

const pod = (ns: string, name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}) => ({
  metadata: { namespace: ns, name, ...meta },
  spec: { containers: [{ name: 'a', image: 'x' }], ...spec },
});

test('auditPods applies the webhook rules and exemptions, and reports owners', () => {
  const config = parseConfig({ validation: { exemptNamespaces: ['legacy'] } });
  const report = auditPods(
    [
      pod('shop', 'vm-1', { runtimeClassName: 'kata', hostPID: true }, { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'vm', uid: 'u', controller: true }] }),
      pod('shop', 'fine', {}),
      pod('legacy', 'old', { runtimeClassName: 'kata', hostPID: true }),
      pod('kube-system', 'sys', { runtimeClassName: 'kata', hostPID: true }),
      pod('shop', 'logs', { runtimeClassName: 'gvisor', volumes: [{ name: 'l', hostPath: { path: '/var/log' } }] }),
    ],
    config,
    () => ({}),
  );
  expect(report).toMatchObject({ pods: 5, exempt: 2, denied: true });
  expect(report.violations.map((v) => [v.namespace, v.pod, v.owner, v.rule, v.action, v.field])).toEqual([
    ['shop', 'vm-1', 'ReplicaSet/vm', 'sandbox-host-namespaces', 'deny', 'spec.hostPID'],
    ['shop', 'logs', undefined, 'sandbox-host-path', 'warn', 'spec.volumes[l].hostPath.path'],
  ]);
  const text = formatReport(report, 'table');
  expect(text.split('\n')[0]).toMatch(/^NAMESPACE\s+POD\s+OWNER\s+RULE\s+ACTION\s+FIELD\s+MESSAGE$/);
  expect(text).toContain('5 pods scanned (2 exempt), 2 violations (1 deny)');
  expect(JSON.parse(formatReport(report, 'json')).violations).toHaveLength(2);
});

test('a warn-only cluster is not denied', () => {
  const report = auditPods([pod('shop', 'logs', { runtimeClassName: 'gvisor', volumes: [{ name: 'l', hostPath: { path: '/var/log' } }] })], parseConfig({}), () => ({}));
  expect(report.denied).toBe(false);
  expect(formatReport(auditPods([], parseConfig({}), () => ({})), 'table')).toBe('no policy violations; 0 pods scanned (0 exempt), 0 violations (0 deny)\n');
});

test('durations, ages and tables', () => {
  expect([parseDuration('--since', '90s'), parseDuration('--since', '15m'), parseDuration('--since', '1h'), parseDuration('--since', '7d')]).toEqual([90_000, 900_000, 3_600_000, 604_800_000]);
  expect(() => parseDuration('--since', '1 hour')).toThrow('--since "1 hour": expected a positive duration such as 90s, 15m, 1h or 7d');
  expect(() => parseDuration('--interval', '0s')).toThrow(/--interval "0s"/);
  const now = new Date('2026-01-01T12:00:00Z');
  expect([age(new Date('2026-01-01T11:59:30Z'), now), age(new Date('2026-01-01T11:50:00Z'), now), age(new Date('2026-01-01T06:00:00Z'), now)]).toEqual(['30s', '10m', '6h']);
  expect(table(['A', 'LONGER'], [['xxx', 'y']])).toBe('A     LONGER\nxxx   y\n');
});

test('toRejection reads the structured annotations podhooks puts on its Events', () => {
  const r = toRejection({
    metadata: { name: 'vm.1', namespace: 'shop', annotations: { 'podhooks.io/rules': 'deny:sandbox-host-namespaces,warn:sandbox-host-path', 'podhooks.io/pod': 'vm', 'podhooks.io/user': 'alice' } },
    involvedObject: { kind: 'Pod', name: 'vm', namespace: 'shop' },
    reason: 'PodhooksDenied',
    message: 'podhooks denied pod vm: ...',
    count: 3,
    firstTimestamp: new Date('2026-01-01T11:00:00Z'),
    lastTimestamp: new Date('2026-01-01T11:30:00Z'),
  });
  expect(r).toEqual({
    lastSeen: '2026-01-01T11:30:00.000Z',
    firstSeen: '2026-01-01T11:00:00.000Z',
    namespace: 'shop',
    reason: 'PodhooksDenied',
    object: 'Pod/vm',
    pod: 'vm',
    user: 'alice',
    rules: ['deny:sandbox-host-namespaces', 'warn:sandbox-host-path'],
    count: 3,
    message: 'podhooks denied pod vm: ...',
  });
});
