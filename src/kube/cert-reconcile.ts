// One pass of self-managed certificate upkeep, shared by `podhooks certs --secret` and the
// server's start-up/renewal loop. Order matters for a handshake-free rotation:
//   1. every webhook trusts the new CA (plus the old ones) before anything serves with it;
//   2. wait until the apiservers have seen that caBundle;
//   3. store the new certificate (replicas switch to it as they notice);
//   4. set caBundle to the final trust bundle (drops CAs that have expired).
// Callers hold the certificates Lease around it.
import { bundleCovers, planCertificates, servingNames, type CertBundle, type CertPolicy } from '../certs';
import type { Config } from '../config';
import type { CertStore } from './certstore';

export interface ReconcileOptions {
  force?: boolean;
  patchWebhooks: boolean;
  caPropagationMs: number;
  /** Progress lines (CLI output, server log). */
  note?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface ReconcileResult {
  secret: 'created' | 'updated' | 'unchanged';
  reason?: string;
  newCA: boolean;
  bundle: CertBundle;
  /** Webhooks whose caBundle was changed, as config:webhook. */
  patched: string[];
}

export async function reconcileCertificates(store: CertStore, policy: CertPolicy, opts: ReconcileOptions): Promise<ReconcileResult> {
  const note = opts.note ?? (() => {});
  const stored = await store.readSecret();
  const plan = planCertificates(stored?.bundle, policy, { force: opts.force });
  if (!plan) {
    // Valid, but the CA key still sits in the serving Secret (written by an older podhooks): move it.
    const moved = stored!.caKeyInServingSecret;
    if (moved) await store.writeSecret(stored!.bundle!, stored);
    const patched = opts.patchWebhooks ? await store.patchCaBundles(stored!.bundle!.caCert) : [];
    return moved
      ? { secret: 'updated', reason: `moved the CA key to Secret ${store.caSecretRef}`, newCA: false, bundle: stored!.bundle!, patched }
      : { secret: 'unchanged', newCA: false, bundle: stored!.bundle!, patched };
  }
  const reason = stored?.problem ?? plan.reason;
  note('issuing certificates', { secret: store.secretRef, reason, newCA: plan.newCA });
  const patched = new Set<string>();
  if (opts.patchWebhooks) {
    const untrusting = (await store.caBundles()).filter((b) => !b.caBundle || !bundleCovers(b.caBundle, plan.bundle.caCert));
    if (untrusting.length) {
      for (const p of await store.patchCaBundles(plan.bundle.caCert)) patched.add(p);
      // Something may already serve the stored certificate; give the apiservers time to
      // load the widened caBundle before a replica can switch to the new one.
      if (stored?.bundle && opts.caPropagationMs > 0) {
        note('new CA added to caBundle; waiting before storing the certificate it signed', { waitMs: opts.caPropagationMs });
        await new Promise((r) => setTimeout(r, opts.caPropagationMs));
      }
    }
  }
  await store.writeSecret(plan.bundle, stored);
  if (opts.patchWebhooks) for (const p of await store.patchCaBundles(plan.bundle.caCert)) patched.add(p);
  return { secret: stored ? 'updated' : 'created', reason, newCA: plan.newCA, bundle: plan.bundle, patched: [...patched] };
}

/** SANs and lifetimes from the config; `namespace` is the webhook Service's namespace. */
export function certPolicy(config: Config, namespace: string): CertPolicy {
  const c = config.certificates;
  return {
    ...servingNames(config, namespace),
    caValiditySeconds: c.caValidity,
    validitySeconds: c.validity,
    renewBeforeSeconds: c.renewBefore,
  };
}
