// When self-managed certificates are re-issued, and the CA overlap that keeps handshakes
// working while replicas switch one by one.
import { X509Certificate } from 'node:crypto';
import { bundleCovers, planCertificates, renewalReason, splitPem, type CertPolicy } from '../../src/certs';
import { parseConfig } from '../../src/config';

const DAY = 86400;
const policy: CertPolicy = { dnsNames: ['podhooks.podhooks.svc'], ips: ['127.0.0.1'], caValiditySeconds: 3650 * DAY, validitySeconds: 365 * DAY, renewBeforeSeconds: 30 * DAY };
const first = planCertificates(undefined, policy)!;

test('nothing stored: a new CA and a serving certificate for the service names', () => {
  expect(first.reason).toBe('no certificate stored');
  expect(first.newCA).toBe(true);
  const serving = new X509Certificate(first.bundle.cert);
  expect(serving.checkHost('podhooks.podhooks.svc')).toBe('podhooks.podhooks.svc');
  expect(serving.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(serving.verify(new X509Certificate(first.bundle.caCert).publicKey)).toBe(true);
  expect(splitPem(first.bundle.caCert)).toHaveLength(1);
});

test('valid certificates are kept', () => {
  expect(renewalReason(first.bundle, policy)).toBeUndefined();
  expect(planCertificates(first.bundle, policy)).toBeUndefined();
});

test('near expiry: a new serving certificate from the same CA', () => {
  const later = Date.now() + 340 * DAY * 1000;
  expect(renewalReason(first.bundle, policy, later)).toMatch(/^tls\.crt expires at .*, within renewBefore$/);
  const plan = planCertificates(first.bundle, policy, { now: later })!;
  expect(plan.newCA).toBe(false);
  expect(plan.bundle.caCert).toBe(first.bundle.caCert);
  expect(plan.bundle.caKey).toBe(first.bundle.caKey);
  expect(plan.bundle.cert).not.toBe(first.bundle.cert);
});

test('forced rotation: a new CA first in the bundle, the old CA still trusted', () => {
  const plan = planCertificates(first.bundle, policy, { force: true })!;
  expect(plan.newCA).toBe(true);
  const [signer, previous] = splitPem(plan.bundle.caCert);
  expect(previous).toBe(first.bundle.caCert);
  expect(new X509Certificate(plan.bundle.cert).verify(new X509Certificate(signer).publicKey)).toBe(true);
  // Both the old serving certificate and the new one verify against the new bundle.
  expect(bundleCovers(plan.bundle.caCert, first.bundle.caCert)).toBe(true);
  expect(bundleCovers(first.bundle.caCert, plan.bundle.caCert)).toBe(false);
  // The plan is stable: the rotated certificates are kept on the next check.
  expect(planCertificates(plan.bundle, policy)).toBeUndefined();
});

test('a CA that cannot outlive a full serving certificate is replaced; expired CAs leave the bundle', () => {
  const short: CertPolicy = { ...policy, caValiditySeconds: 60, validitySeconds: 60, renewBeforeSeconds: 20 };
  const a = planCertificates(undefined, short)!;
  const b = planCertificates(a.bundle, short, { now: Date.now() + 45_000 })!;
  expect(b.newCA).toBe(true);
  expect(splitPem(b.bundle.caCert)).toEqual([expect.any(String), a.bundle.caCert]);
  // (Both earlier CAs were issued now for 60 s, so both have expired 65 s later.)
  const c = planCertificates(b.bundle, short, { now: Date.now() + 65_000 })!;
  expect(splitPem(c.bundle.caCert)).toHaveLength(1);
  expect(c.bundle.caCert).not.toContain(splitPem(a.bundle.caCert)[0]);
  expect(c.bundle.caCert).not.toContain(splitPem(b.bundle.caCert)[0]);
});

test('mismatched or foreign material is named', () => {
  const other = planCertificates(undefined, policy)!.bundle;
  expect(renewalReason({ ...first.bundle, key: other.key }, policy)).toBe('tls.key does not match tls.crt');
  expect(renewalReason({ ...first.bundle, caKey: other.caKey }, policy)).toBe('ca.key does not match the first certificate in ca.crt');
  expect(renewalReason({ ...first.bundle, caCert: other.caCert, caKey: other.caKey }, policy)).toBe('tls.crt is not signed by the first certificate in ca.crt');
  expect(renewalReason(first.bundle, { ...policy, dnsNames: ['podhooks.other.svc'] })).toBe('tls.crt does not cover podhooks.other.svc');
  expect(renewalReason({ ...first.bundle, cert: 'garbage' }, policy)).toMatch(/^stored certificates unreadable: /);
});

test('certificates config: durations parse to seconds; bad values name the field', () => {
  const c = parseConfig({ certificates: { mode: 'secret', validity: '10m', renewBefore: '90s', caValidity: '1h' } }).certificates;
  expect([c.mode, c.validity, c.renewBefore, c.caValidity, c.checkInterval]).toEqual(['secret', 600, 90, 3600, 60]);
  expect(() => parseConfig({ certificates: { renewBefore: '30d' } })).toThrow(/certificates\.renewBefore: a duration such as 30s, 10m or 720h \(got "30d"\)/);
  expect(() => parseConfig({ certificates: { validity: '1h', renewBefore: '2h' } })).toThrow(/certificates\.renewBefore: must be shorter than certificates\.validity/);
});
