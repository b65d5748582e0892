// Self-managed certificates in the cluster: a kubernetes.io/tls Secret (tls.crt, tls.key,
// ca.crt = the trust bundle, ca.key = the signing CA's key) and the caBundle of every
// webhook in podhooks' two webhook configurations. Loaded lazily with client-node.
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { CertBundle } from '../certs';
import { ClusterError } from './cluster';

export interface WebhookTargets {
  mutating: string;
  validating: string;
}

export interface StoredSecret {
  bundle?: CertBundle;
  resourceVersion?: string;
  /** The Secret exists but lacks keys: named so the caller can say why it is replaced. */
  problem?: string;
}

export interface CaBundleState {
  config: string;
  webhook: string;
  caBundle: string;
}

/** A ClusterError: the CLI prints it and exits 2. */
export class CertStoreError extends ClusterError {}

const code = (err: unknown) => (err as { code?: number }).code;

function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = typeof body === 'string' ? JSON.parse(body) : body;
    if (parsed && typeof (parsed as { message?: unknown }).message === 'string') return (parsed as { message: string }).message;
  } catch {
    /* not JSON */
  }
  return (err as Error).message.split('\n')[0];
}

const decode = (data: Record<string, string> | undefined, key: string) => (data?.[key] ? Buffer.from(data[key], 'base64').toString('utf8') : undefined);
const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');

export class CertStore {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;

  constructor(
    kubeConfig: KubeConfig,
    readonly namespace: string,
    readonly secretName: string,
    readonly webhooks: WebhookTargets,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  }

  get secretRef(): string {
    return `${this.namespace}/${this.secretName}`;
  }

  async readSecret(): Promise<StoredSecret | undefined> {
    let secret: V1Secret;
    try {
      secret = await this.core.readNamespacedSecret({ name: this.secretName, namespace: this.namespace });
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw new CertStoreError(`reading Secret ${this.secretRef}: ${apiMessage(err)}`);
    }
    const [cert, key, caCert, caKey] = ['tls.crt', 'tls.key', 'ca.crt', 'ca.key'].map((k) => decode(secret.data, k));
    const missing = Object.entries({ 'tls.crt': cert, 'tls.key': key, 'ca.crt': caCert, 'ca.key': caKey })
      .filter(([, v]) => !v)
      .map(([k]) => k);
    const resourceVersion = secret.metadata?.resourceVersion;
    if (missing.length) return { resourceVersion, problem: `Secret ${this.secretRef} lacks ${missing.join(', ')}` };
    return { resourceVersion, bundle: { cert: cert!, key: key!, caCert: caCert!, caKey: caKey! } };
  }

  /** Creates the Secret, or replaces it only if nobody changed it since `resourceVersion`. */
  async writeSecret(bundle: CertBundle, resourceVersion: string | undefined, exists: boolean): Promise<void> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: this.secretName, namespace: this.namespace, resourceVersion, labels: { 'app.kubernetes.io/name': 'podhooks', 'app.kubernetes.io/managed-by': 'podhooks' } },
      data: { 'tls.crt': encode(bundle.cert), 'tls.key': encode(bundle.key), 'ca.crt': encode(bundle.caCert), 'ca.key': encode(bundle.caKey) },
    };
    try {
      if (exists) await this.core.replaceNamespacedSecret({ name: this.secretName, namespace: this.namespace, body });
      else await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (code(err) === 409) throw new CertStoreError(`Secret ${this.secretRef} was changed by someone else meanwhile; run again`);
      if (code(err) === 404) throw new CertStoreError(`cannot create Secret ${this.secretRef}: namespace ${this.namespace} does not exist (apply deploy/ first)`);
      throw new CertStoreError(`writing Secret ${this.secretRef}: ${apiMessage(err)}`);
    }
  }

  private async readConfigs() {
    const read = async <T>(kind: string, name: string, get: () => Promise<T>): Promise<T> => {
      try {
        return await get();
      } catch (err) {
        if (code(err) === 404) throw new CertStoreError(`${kind} ${name} not found: apply deploy/ (webhooks.yaml) first, or set certificates.${kind === 'MutatingWebhookConfiguration' ? 'mutating' : 'validating'}WebhookConfiguration`);
        throw new CertStoreError(`reading ${kind} ${name}: ${apiMessage(err)}`);
      }
    };
    const mutating = await read('MutatingWebhookConfiguration', this.webhooks.mutating, () => this.admission.readMutatingWebhookConfiguration({ name: this.webhooks.mutating }));
    const validating = await read('ValidatingWebhookConfiguration', this.webhooks.validating, () => this.admission.readValidatingWebhookConfiguration({ name: this.webhooks.validating }));
    return { mutating, validating };
  }

  /** The caBundle (decoded PEM) of every webhook in both configurations. */
  async caBundles(): Promise<CaBundleState[]> {
    const { mutating, validating } = await this.readConfigs();
    const rows = (config: string, hooks: { name: string; clientConfig: { caBundle?: string } }[] | undefined) =>
      (hooks ?? []).map((h) => ({ config, webhook: h.name, caBundle: h.clientConfig.caBundle ? Buffer.from(h.clientConfig.caBundle, 'base64').toString('utf8') : '' }));
    return [...rows(`mutatingwebhookconfiguration/${this.webhooks.mutating}`, mutating.webhooks), ...rows(`validatingwebhookconfiguration/${this.webhooks.validating}`, validating.webhooks)];
  }

  /**
   * Sets caBundle on every webhook whose bundle differs. The JSON patch tests each
   * webhook's name at its index, so a concurrent reordering fails instead of patching
   * the wrong entry. Returns the webhooks it changed.
   */
  async patchCaBundles(caPem: string): Promise<string[]> {
    const { mutating, validating } = await this.readConfigs();
    const value = encode(caPem);
    const ops = (hooks: { name: string; clientConfig: { caBundle?: string } }[] | undefined) =>
      (hooks ?? []).flatMap((h, i) =>
        h.clientConfig.caBundle === value
          ? []
          : [
              { op: 'test', path: `/webhooks/${i}/name`, value: h.name },
              { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value },
            ],
      );
    const changed: string[] = [];
    const patch = async (kind: string, name: string, body: object[], send: () => Promise<unknown>) => {
      if (!body.length) return;
      try {
        await send();
      } catch (err) {
        throw new CertStoreError(`patching caBundle into ${kind} ${name}: ${apiMessage(err)}`);
      }
      changed.push(...body.filter((_, i) => i % 2 === 0).map((op) => `${kind.toLowerCase()}/${name}:${(op as { value: string }).value}`));
    };
    const m = ops(mutating.webhooks);
    await patch('MutatingWebhookConfiguration', this.webhooks.mutating, m, () => this.admission.patchMutatingWebhookConfiguration({ name: this.webhooks.mutating, body: m }));
    const v = ops(validating.webhooks);
    await patch('ValidatingWebhookConfiguration', this.webhooks.validating, v, () => this.admission.patchValidatingWebhookConfiguration({ name: this.webhooks.validating, body: v }));
    return changed;
  }
}
