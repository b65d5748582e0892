// The dev/self-managed certificates are signed through node:crypto (forge only builds the
// X.509 structure): the signatures must verify with an independent implementation.
import { X509Certificate } from 'node:crypto';
import { checkPair, generateBundle } from '../../src/certs';

test('the CA is self-signed and the serving certificate is signed by it, for the names asked', () => {
  const bundle = generateBundle(['localhost', 'podhooks.podhooks.svc'], ['127.0.0.1']);
  const ca = new X509Certificate(bundle.caCert);
  const leaf = new X509Certificate(bundle.cert);
  expect(ca.verify(ca.publicKey)).toBe(true);
  expect(ca.ca).toBe(true);
  expect(leaf.verify(ca.publicKey)).toBe(true);
  expect(leaf.checkIssued(ca)).toBe(true);
  expect(leaf.subjectAltName).toBe('DNS:localhost, DNS:podhooks.podhooks.svc, IP Address:127.0.0.1');
  expect(checkPair(bundle.cert, bundle.key)).toBeInstanceOf(X509Certificate);
  // And not by any other CA.
  expect(leaf.verify(new X509Certificate(generateBundle(['x'], []).caCert).publicKey)).toBe(false);
});
