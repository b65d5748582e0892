// Development / self-managed certificates: a CA and a serving certificate for the
// webhook's names. Keys come from node:crypto (native, fast); X.509 from node-forge.
import { constants, createPrivateKey, generateKeyPairSync, privateEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { ConfigError, type Config } from '../config';

export interface CertBundle {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export const CERT_FILES = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** The serving certificate's names, whoever issues it: loopback, the webhook Service's
 *  DNS names in `namespace`, and certificates.extraDnsNames / extraIPs. */
export function servingNames(config: Config, namespace = config.namespace): { dnsNames: string[]; ips: string[] } {
  const c = config.certificates;
  return { dnsNames: ['localhost', ...serviceDnsNames(config.serviceName, namespace), ...c.extraDnsNames], ips: ['127.0.0.1', '::1', ...c.extraIPs] };
}

function rsaKey(): { pem: string; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return { pem: privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey) };
}

const DAY = 86400;

// DER DigestInfo prefix for SHA-256 (RFC 8017 9.2): with it, an RSA private-key operation
// under PKCS#1 v1.5 padding is exactly an RSASSA-PKCS1-v1_5 signature.
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** Signs forge certificates with node:crypto: forge's own RSA is pure JS and ~100 ms a signature. */
function nodeSigner(keyPem: string): forge.pki.rsa.PrivateKey {
  const sign = (md: forge.md.MessageDigest) =>
    privateEncrypt({ key: keyPem, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, Buffer.from(md.digest().getBytes(), 'binary')])).toString('binary');
  return { sign } as unknown as forge.pki.rsa.PrivateKey;
}

// node-forge writes CRLF; bundles are compared and concatenated as LF text.
const pem = (cert: forge.pki.Certificate) => forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');

function newCert(publicKey: forge.pki.rsa.PublicKey, seconds: number, notAfterMax?: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: a leading 0x00-0x7f byte keeps the DER integer non-negative.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  // Backdated a little: a node whose clock runs behind must not see "not yet valid".
  cert.validity.notBefore = new Date(Date.now() - 5 * 60 * 1000);
  const notAfter = Date.now() + seconds * 1000;
  cert.validity.notAfter = new Date(notAfterMax ? Math.min(notAfter, notAfterMax.getTime()) : notAfter);
  return cert;
}

export function generateCA(days = 3650, seconds = days * DAY): { cert: string; key: string } {
  const key = rsaKey();
  const cert = newCert(key.publicKey, seconds);
  const subject = [{ name: 'commonName', value: 'podhooks CA' }, { name: 'organizationName', value: 'podhooks' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(nodeSigner(key.pem), forge.md.sha256.create());
  return { cert: pem(cert), key: key.pem };
}

/** A serving certificate never outlives the CA that signs it. */
export function generateServingCert(ca: { cert: string; key: string }, dnsNames: string[], ips: string[], days = 365, seconds = days * DAY): { cert: string; key: string } {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const key = rsaKey();
  const cert = newCert(key.publicKey, seconds, caCert.validity.notAfter);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? ips[0] ?? 'podhooks' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))] },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(nodeSigner(ca.key), forge.md.sha256.create());
  return { cert: pem(cert), key: key.pem };
}

export function generateBundle(dnsNames: string[], ips: string[], days = 365): CertBundle {
  const ca = generateCA();
  const serving = generateServingCert(ca, dnsNames, ips, days);
  return { caCert: ca.cert, caKey: ca.key, cert: serving.cert, key: serving.key };
}

/** Writes atomically (temp file + rename) so a watching server never reads half a file. */
export function writeBundle(dir: string, bundle: CertBundle): void {
  mkdirSync(dir, { recursive: true });
  for (const [field, file] of Object.entries(CERT_FILES)) {
    const target = join(dir, file);
    writeFileSync(`${target}.tmp`, bundle[field as keyof CertBundle], { mode: file.endsWith('.key') ? 0o600 : 0o644 });
    renameSync(`${target}.tmp`, target);
  }
}

/**
 * Loads tls.crt/tls.key from dir, generating a dev CA + serving cert first when both are
 * absent. One without the other is refused: generating would overwrite the one that is
 * there (a real certificate whose key was not mounted, say) with a new dev CA's.
 */
export function ensureServingCert(dir: string, dnsNames: string[], ips: string[]): { cert: string; key: string; generated: boolean } {
  const certPath = join(dir, CERT_FILES.cert);
  const keyPath = join(dir, CERT_FILES.key);
  const [hasCert, hasKey] = [existsSync(certPath), existsSync(keyPath)];
  if (hasCert !== hasKey) {
    const [present, missing] = hasCert ? [certPath, keyPath] : [keyPath, certPath];
    throw new ConfigError(
      `${present} exists but ${missing} does not; podhooks will not generate a development certificate over half a pair. ` +
        `Fix: put the matching ${hasCert ? 'key' : 'certificate'} at ${missing} (check the Secret or volume that provides them), or remove ${present} to generate a development CA`,
    );
  }
  let generated = false;
  if (!hasCert) {
    writeBundle(dir, generateBundle(dnsNames, ips));
    generated = true;
  }
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), generated };
}

/** Throws with a specific message unless cert and key form a usable pair. */
export function checkPair(cert: string, key: string): X509Certificate {
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('tls.key does not match tls.crt');
  return x509;
}
