// A SIMULATED kubelet for the e2e tier, which has no node: it does only the status
// bookkeeping a kubelet would, through the same API, so that Ready and EndpointSlices can
// be observed on the real control plane. It is not podhooks and proves nothing about the
// kubelet; the node tier checks the real one.
// - registers a Node (Ready) and renews its Lease, so kube-controller-manager keeps it healthy;
// - binds unscheduled pods of one namespace to it (there is no scheduler either);
// - "starts" bound pods: phase Running, a pod IP, containers ready;
// - computes Ready as kubelet does (ContainersReady and every readiness gate's condition True,
//   pkg/kubelet/status/generate.go) and writes it with a strategic-merge patch of that one
//   condition whenever it differs from what the apiserver stores;
// - confirms graceful deletions (as a kubelet does once containers have stopped).
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Pod, type V1PodCondition, setHeaderOptions, PatchStrategy } from '@kubernetes/client-node';

export interface SimulatedKubelet {
  node: string;
  /** Completed passes over the namespace's pods (wait for one more to see the effect of a change). */
  passes(): number;
  /** Lease renewals: true, or the error (a test can assert its node stayed healthy). */
  renewals(): (true | string)[];
  stop(): Promise<void>;
}

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** Ready as kubelet computes it from ContainersReady and the pod's readiness gates. */
export function kubeletReady(pod: V1Pod): Pick<V1PodCondition, 'status' | 'reason' | 'message'> {
  const conditions = pod.status?.conditions ?? [];
  if (conditions.find((c) => c.type === 'ContainersReady')?.status !== 'True') return { status: 'False', reason: 'ContainersNotReady' };
  const unready: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const c = conditions.find((x) => x.type === gate.conditionType);
    if (!c) unready.push(`corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`);
    else if (c.status !== 'True') unready.push(`the status of pod readiness gate "${gate.conditionType}" is not "True", but ${c.status}`);
  }
  return unready.length ? { status: 'False', reason: 'ReadinessGatesNotReady', message: unready.join(', ') } : { status: 'True' };
}

export async function startSimulatedKubelet(kc: KubeConfig, opts: { node: string; namespace: string; intervalMs?: number }): Promise<SimulatedKubelet> {
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const { node, namespace } = opts;
  const now = () => new Date();
  /** MicroTime (Lease renewTime) wants exactly six fractional digits. */
  const micro = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  await core.createNode({ body: { metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } } });
  await core.patchNodeStatus(
    { name: node, body: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated', lastHeartbeatTime: now(), lastTransitionTime: now() }], addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } } },
    MERGE,
  );
  await leases.createNamespacedLease({ namespace: 'kube-node-lease', body: { metadata: { name: node }, spec: { holderIdentity: node, leaseDurationSeconds: 40 } } });

  let ip = 10;
  let passes = 0;
  let lastRenew = 0;
  const renewals: (true | string)[] = [];
  let stopped = false;
  const condition = (type: string, status: string, extra: Partial<V1PodCondition> = {}): V1PodCondition => ({ type, status, lastTransitionTime: now(), ...extra });

  async function handle(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    if (!pod.spec?.nodeName) {
      if (pod.metadata?.deletionTimestamp) return;
      await core.createNamespacedPodBinding({ name, namespace, body: { metadata: { name }, target: { kind: 'Node', name: node } } });
      return;
    }
    if (pod.spec.nodeName !== node) return;
    if (pod.metadata?.deletionTimestamp) {
      await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0, body: { preconditions: { uid: pod.metadata.uid } } });
      return;
    }
    if (!pod.status?.podIP) {
      const podIP = `10.244.0.${ip++}`;
      const started: V1Pod = { ...pod, status: { ...pod.status, conditions: [...(pod.status?.conditions ?? []), condition('ContainersReady', 'True')] } };
      const ready = kubeletReady(started);
      const body = {
        status: {
          phase: 'Running',
          podIP,
          podIPs: [{ ip: podIP }],
          hostIP: '127.0.0.1',
          hostIPs: [{ ip: '127.0.0.1' }],
          startTime: now(),
          conditions: [condition('PodScheduled', 'True'), condition('Initialized', 'True'), condition('ContainersReady', 'True'), condition('Ready', ready.status, ready)],
          containerStatuses: pod.spec.containers.map((c) => ({ name: c.name, image: c.image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: now() } } })),
        },
      };
      await core.patchNamespacedPodStatus({ name, namespace, body }, MERGE);
      return;
    }
    const ready = kubeletReady(pod);
    const stored = pod.status.conditions?.find((c) => c.type === 'Ready');
    if (stored?.status === ready.status && (stored.message ?? '') === (ready.message ?? '')) return;
    await core.patchNamespacedPodStatus({ name, namespace, body: { status: { conditions: [condition('Ready', ready.status, ready)] } } }, MERGE);
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        if (Date.now() - lastRenew > 5000) {
          lastRenew = Date.now();
          renewals.push(await leases.patchNamespacedLease({ name: node, namespace: 'kube-node-lease', body: { spec: { renewTime: micro() } } }, MERGE).then(() => true, (err) => String(err)));
        }
        for (const pod of (await core.listNamespacedPod({ namespace })).items) {
          // A conflict or a pod deleted meanwhile is retried on the next pass, as kubelet retries.
          await handle(pod).catch(() => undefined);
        }
        passes++;
      } catch {
        /* apiserver busy: next pass */
      }
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
    }
  })();

  return {
    node,
    passes: () => passes,
    renewals: () => renewals,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
