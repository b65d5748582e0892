// Serving certificate from certDir (tls.crt/tls.key), generated on first start when
// absent, and reloaded without a restart when the files change (Secret volume updates,
// `podhooks certs`, cert-manager). A half-written or mismatched pair is not loaded.
import { watchFile, unwatchFile, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:https';
import { CERT_FILES, checkPair, ensureServingCert, servingNames } from '../certs';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';

/**
 * What the HTTPS server accepts: TLS 1.2 only with forward-secret AEAD suites (ECDHE with
 * AES-GCM or ChaCha20-Poly1305; no static RSA key exchange, no CBC or SHA-1), TLS 1.3 with
 * OpenSSL's suites, which all qualify. Passed again on every certificate reload, because
 * setSecureContext replaces the whole context.
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;

export function initialCertificate(config: Config, logger: Logger, metrics: Metrics): { cert: string; key: string } {
  const dir = config.server.certDir;
  const { dnsNames, ips } = servingNames(config);
  const pair = ensureServingCert(dir, dnsNames, ips);
  if (pair.generated) logger.info({ certDir: dir, dnsNames }, 'generated a development CA and serving certificate');
  const x509 = checkPair(pair.cert, pair.key);
  // Known from the start, not only after a reload: alerts on expiry work for a server that never reloads.
  metrics.certExpiry.set(Date.parse(x509.validTo) / 1000);
  return pair;
}

export function watchCertificate(server: Server, config: Config, logger: Logger, metrics: Metrics, current: string): () => void {
  const certPath = join(config.server.certDir, CERT_FILES.cert);
  const keyPath = join(config.server.certDir, CERT_FILES.key);
  let loaded = current;
  const reload = () => {
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(certPath, 'utf8');
      key = readFileSync(keyPath, 'utf8');
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'serving certificate unreadable; keeping the current one');
      return;
    }
    if (cert === loaded) return;
    try {
      const x509 = checkPair(cert, key);
      server.setSecureContext({ cert, key, ...TLS_POLICY });
      loaded = cert;
      metrics.certReloads.inc({ result: 'success' });
      metrics.certExpiry.set(Date.parse(x509.validTo) / 1000);
      logger.info({ subject: x509.subject, validTo: x509.validTo }, 'serving certificate reloaded');
    } catch (err) {
      // Often the cert is written before the key: the next poll sees the matching pair.
      metrics.certReloads.inc({ result: 'invalid' });
      logger.warn({ err: (err as Error).message }, 'new serving certificate not loaded yet');
    }
  };
  const interval = config.server.certReloadIntervalMs;
  watchFile(certPath, { interval, persistent: false }, reload);
  watchFile(keyPath, { interval, persistent: false }, reload);
  return () => {
    unwatchFile(certPath, reload);
    unwatchFile(keyPath, reload);
  };
}
