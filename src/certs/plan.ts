// When self-managed certificates are (re-)issued, and which CAs the webhooks trust.
// The stored CertBundle's caCert is the trust bundle: the signing CA first, then older
// CAs that are still valid, so a replica still serving the previous certificate keeps
// passing the apiserver's check while the new one rolls out (CA overlap).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { generateCA, generateServingCert, type CertBundle } from './issue';

export interface CertPolicy {
  dnsNames: string[];
  ips: string[];
  caValiditySeconds: number;
  validitySeconds: number;
  renewBeforeSeconds: number;
}

export interface CertPlan {
  bundle: CertBundle;
  reason: string;
  newCA: boolean;
}

const MAX_TRUSTED_CAS = 3;

export function splitPem(bundle: string): string[] {
  return bundle.replace(/\r\n/g, '\n').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => c + '\n') ?? [];
}

function expiresAt(x509: X509Certificate): number {
  return Date.parse(x509.validTo);
}

/** Why the stored certificates cannot be kept, or undefined when they can. */
export function renewalReason(current: CertBundle | undefined, policy: CertPolicy, now = Date.now()): string | undefined {
  if (!current) return 'no certificate stored';
  try {
    const [signerPem] = splitPem(current.caCert);
    if (!signerPem) return 'ca.crt holds no certificate';
    const signer = new X509Certificate(signerPem);
    const serving = new X509Certificate(current.cert);
    if (!serving.checkPrivateKey(createPrivateKey(current.key))) return 'tls.key does not match tls.crt';
    if (!signer.checkPrivateKey(createPrivateKey(current.caKey))) return 'ca.key does not match the first certificate in ca.crt';
    if (!serving.verify(signer.publicKey)) return 'tls.crt is not signed by the first certificate in ca.crt';
    const missing = [...policy.dnsNames.filter((n) => !serving.checkHost(n, { wildcards: false })), ...policy.ips.filter((ip) => !serving.checkIP(ip))];
    if (missing.length) return `tls.crt does not cover ${missing.join(', ')}`;
    const renewAt = now + policy.renewBeforeSeconds * 1000;
    if (expiresAt(serving) <= renewAt) return `tls.crt expires at ${serving.validTo}, within renewBefore`;
    if (expiresAt(signer) <= renewAt) return `the CA expires at ${signer.validTo}, within renewBefore`;
    return undefined;
  } catch (err) {
    return `stored certificates unreadable: ${(err as Error).message}`;
  }
}

function stillValid(pem: string, now: number): X509Certificate | undefined {
  try {
    const x509 = new X509Certificate(pem);
    return expiresAt(x509) > now ? x509 : undefined;
  } catch {
    return undefined;
  }
}

/** The CA to sign with: the stored one while it outlives a full serving certificate. */
function reusableCA(current: CertBundle | undefined, policy: CertPolicy, now: number): { cert: string; key: string } | undefined {
  if (!current) return undefined;
  const [signerPem] = splitPem(current.caCert);
  const signer = signerPem ? stillValid(signerPem, now) : undefined;
  try {
    if (!signer || !signer.checkPrivateKey(createPrivateKey(current.caKey))) return undefined;
  } catch {
    return undefined;
  }
  return expiresAt(signer) - now > (policy.validitySeconds + policy.renewBeforeSeconds) * 1000 ? { cert: signerPem!, key: current.caKey } : undefined;
}

/** New certificates when the stored ones must be replaced (or force), else undefined. */
export function planCertificates(current: CertBundle | undefined, policy: CertPolicy, opts: { force?: boolean; now?: number } = {}): CertPlan | undefined {
  const now = opts.now ?? Date.now();
  const reason = opts.force ? 'forced rotation' : renewalReason(current, policy, now);
  if (!reason) return undefined;
  const reused = opts.force ? undefined : reusableCA(current, policy, now);
  const ca = reused ?? generateCA(0, policy.caValiditySeconds);
  const serving = generateServingCert(ca, policy.dnsNames, policy.ips, 0, policy.validitySeconds);
  // Keep older, unexpired CAs trusted: replicas switch to the new certificate one by one.
  const trust = [ca.cert];
  const seen = new Set([new X509Certificate(ca.cert).fingerprint256]);
  for (const pem of current ? splitPem(current.caCert) : []) {
    const x509 = stillValid(pem, now);
    if (!x509 || seen.has(x509.fingerprint256) || trust.length >= MAX_TRUSTED_CAS) continue;
    seen.add(x509.fingerprint256);
    trust.push(pem);
  }
  return { bundle: { caCert: trust.join(''), caKey: ca.key, cert: serving.cert, key: serving.key }, reason, newCA: !reused };
}

/** True when every CA in `required` is in the PEM bundle `trusted`. */
export function bundleCovers(trusted: string, required: string): boolean {
  const have = new Set(splitPem(trusted).map((p) => new X509Certificate(p).fingerprint256));
  return splitPem(required).every((p) => have.has(new X509Certificate(p).fingerprint256));
}
