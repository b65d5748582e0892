// Self-managed certificates in the cluster: the serving Secret (kubernetes.io/tls:
// tls.crt, tls.key, ca.crt = the trust bundle), which the webhook pods read or mount, and
// the CA Secret (kubernetes.io/tls: tls.crt = the signing CA, tls.key = its key), which
// only the issuer reads: `podhooks certs` with your credentials, or the replicas in
// certificates.mode secret. Keeping the CA key out of the serving Secret means a reader
// of that Secret cannot mint certificates the webhooks' caBundle trusts. Also the caBundle
// of every webhook in podhooks' two webhook configurations. Loaded lazily with client-node.
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { splitPem, type CertBundle } from '../certs';
import { ClusterError } from './cluster';

export interface WebhookTargets {
  mutating: string;
  validating: string;
}

export interface StoredSecret {
  bundle?: CertBundle;
  /** Of the serving Secret (undefined: it does not exist). */
  resourceVersion?: string;
  exists: boolean;
  /** Of the CA Secret. */
  caResourceVersion?: string;
  caExists: boolean;
  /** The CA key was found in the serving Secret (written before it had its own Secret): move it. */
  caKeyInServingSecret?: boolean;
  /** The Secrets exist but lack keys: named so the caller can say why they are replaced. */
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
    readonly caSecretName: string,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  }

  get secretRef(): string {
    return `${this.namespace}/${this.secretName}`;
  }

  get caSecretRef(): string {
    return `${this.namespace}/${this.caSecretName}`;
  }

  private async read(name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name, namespace: this.namespace });
    } catch (err) {
      if (code(err) === 404) return undefined;
      throw new CertStoreError(`reading Secret ${this.namespace}/${name}: ${apiMessage(err)}`);
    }
  }

  /** The stored bundle (serving Secret + CA key), undefined when neither Secret exists. */
  async readSecret(): Promise<StoredSecret | undefined> {
    const [secret, ca] = await Promise.all([this.read(this.secretName), this.read(this.caSecretName)]);
    if (!secret && !ca) return undefined;
    const state = { exists: !!secret, resourceVersion: secret?.metadata?.resourceVersion, caExists: !!ca, caResourceVersion: ca?.metadata?.resourceVersion };
    const [cert, key, caCert, legacyKey] = ['tls.crt', 'tls.key', 'ca.crt', 'ca.key'].map((k) => decode(secret?.data, k));
    const caKey = decode(ca?.data, 'tls.key') ?? legacyKey;
    const missing = [
      ...Object.entries({ 'tls.crt': cert, 'tls.key': key, 'ca.crt': caCert }).flatMap(([k, v]) => (v ? [] : [`${k} in Secret ${this.secretRef}`])),
      ...(caKey ? [] : [`tls.key in Secret ${this.caSecretRef} (the CA key)`]),
    ];
    if (missing.length) return { ...state, problem: `missing ${missing.join(', ')}` };
    return { ...state, caKeyInServingSecret: !decode(ca?.data, 'tls.key'), bundle: { cert: cert!, key: key!, caCert: caCert!, caKey: caKey! } };
  }

  /** Writes both Secrets, each replaced only if nobody changed it since it was read. The CA first. */
  async writeSecret(bundle: CertBundle, stored: StoredSecret | undefined): Promise<void> {
    const labels = { 'app.kubernetes.io/name': 'podhooks', 'app.kubernetes.io/managed-by': 'podhooks' };
    const secret = (name: string, resourceVersion: string | undefined, data: Record<string, string>): V1Secret => ({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name, namespace: this.namespace, resourceVersion, labels },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, encode(v)])),
    });
    const signer = splitPem(bundle.caCert)[0] ?? bundle.caCert;
    await this.write(secret(this.caSecretName, stored?.caResourceVersion, { 'tls.crt': signer, 'tls.key': bundle.caKey }), stored?.caExists ?? false);
    await this.write(secret(this.secretName, stored?.resourceVersion, { 'tls.crt': bundle.cert, 'tls.key': bundle.key, 'ca.crt': bundle.caCert }), stored?.exists ?? false);
  }

  private async write(body: V1Secret, exists: boolean): Promise<void> {
    const name = body.metadata!.name!;
    const ref = `${this.namespace}/${name}`;
    try {
      if (exists) await this.core.replaceNamespacedSecret({ name, namespace: this.namespace, body });
      else await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (code(err) === 409) throw new CertStoreError(`Secret ${ref} was changed by someone else meanwhile; run again`);
      if (code(err) === 404) throw new CertStoreError(`cannot create Secret ${ref}: namespace ${this.namespace} does not exist (apply deploy/ first)`);
      throw new CertStoreError(`writing Secret ${ref}: ${apiMessage(err)}`);
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
