// One call for a node-tier test file: the control plane, a node, `podhooks serve` with the
// given config registered as deploy/ registers it, and namespaces that opt into injection
// under Pod Security Standards "restricted". stop() undoes it all, in reverse.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, BatchV1Api, CoreV1Api, type V1Pod, type V1SecurityContext } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../e2e/harness/controlplane';
import { createNamespace, eventually, registerWebhooks } from '../../e2e/harness/webhooks';
import { startPodhooks, type Podhooks } from '../../helpers/podhooks';
import { BRIDGE_IP, startNode, type Node } from './node';

/** What an app container needs to be admitted under PSS "restricted". */
export const RESTRICTED: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export interface Cluster {
  cp: ControlPlane;
  node: Node;
  ph: Podhooks;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  /** A namespace labelled podhooks.io/injection=enabled and pod-security enforce=restricted (plus `labels`). */
  namespace(name: string, labels?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `config` is podhooks' config, or a function that gives it once the node is up (for
 * servers that must listen on the node's bridge address, which exists only then).
 */
export async function startCluster(config: Record<string, any> | ((node: Node) => Promise<Record<string, any>>) = {}): Promise<Cluster> {
  const cp = await startControlPlane({ node: true, apiserverIPs: [BRIDGE_IP] });
  const undo: (() => Promise<unknown>)[] = [() => cp.stop()];
  const stop = async () => {
    for (const step of undo.reverse()) await step();
  };
  try {
    const node = await startNode(cp);
    undo.push(() => node.stop());
    const podhooksConfig = typeof config === 'function' ? await config(node) : config;
    const certDir = mkdtempSync(join(tmpdir(), 'podhooks-node-certs-'));
    undo.push(async () => rmSync(certDir, { recursive: true, force: true }));
    const ph = await startPodhooks({
      ...podhooksConfig,
      server: { certDir: join(certDir, 'certs'), ...podhooksConfig.server },
      kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath, ...podhooksConfig.kubernetes },
    });
    undo.push(() => ph.stop());
    const kc = cp.kubeConfig();
    await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
    const core = kc.makeApiClient(CoreV1Api);
    let active = false;
    return {
      cp,
      node,
      ph,
      core,
      apps: kc.makeApiClient(AppsV1Api),
      batch: kc.makeApiClient(BatchV1Api),
      async namespace(name, labels = {}) {
        await createNamespace(core, name, { 'podhooks.io/injection': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted', ...labels });
        if (active) return;
        // Webhook configurations reach the apiserver's admission chain asynchronously.
        const probe: V1Pod = {
          metadata: { name: 'webhook-probe', annotations: { 'podhooks.io/pre-start': 'true' } },
          spec: { containers: [{ name: 'app', image: node.images.static.ref, command: ['/app'], securityContext: RESTRICTED }] },
        };
        await eventually('the mutating webhook to be active', async () => {
          const pod = await core.createNamespacedPod({ namespace: name, body: probe, dryRun: 'All' });
          return pod.metadata?.annotations?.['podhooks.io/status'] ? pod : undefined;
        });
        active = true;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Container status of `container` (app or sidecar, native or classic). */
/** The static test app serving on :8080 with a readiness probe, under PSS restricted. */
export function staticAppPod(c: Cluster, name: string, annotations: Record<string, string>, labels: Record<string, string> = { app: name }): V1Pod {
  return {
    metadata: { name, labels, annotations },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [{
        name: 'app',
        image: c.node.images.static.ref,
        command: ['/app', 'serve'],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        securityContext: RESTRICTED,
      }],
    },
  };
}

export function containerStatus(pod: V1Pod, container: string) {
  const all = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  return all.find((s) => s.name === container);
}

export const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
export const isRunning = (pod: V1Pod) => pod.status?.phase === 'Running';
