// A coordination.k8s.io Lease used as a short mutual-exclusion lock: the replica holding
// it issues certificates and patches caBundles, or runs the periodic audit; the others
// wait. Acquisition and release use the Lease's resourceVersion, so two replicas can
// never both win. Loaded lazily (with client-node) only when one of those is enabled.
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';

export interface LeaseLock {
  /** True when this identity now holds the lease (fresh, expired, or already its own). */
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
  holder(): Promise<string | undefined>;
}

function status(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

export function leaseLock(api: CoordinationV1Api, namespace: string, name: string, identity: string, durationSeconds: number): LeaseLock {
  const read = async (): Promise<V1Lease | undefined> => {
    try {
      return await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  };
  const held = (lease: V1Lease): boolean => {
    const spec = lease.spec ?? {};
    if (!spec.holderIdentity) return false;
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    return renewed + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 > Date.now();
  };
  return {
    async tryAcquire() {
      const lease = await read();
      const spec = { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: new V1MicroTime(), renewTime: new V1MicroTime() };
      try {
        if (!lease) {
          await api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
          return true;
        }
        if (held(lease) && lease.spec!.holderIdentity !== identity) return false;
        await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, ...spec, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } } });
        return true;
      } catch (err) {
        // Another replica created or updated it first.
        if (status(err) === 409) return false;
        throw err;
      }
    },
    async release() {
      const lease = await read();
      if (!lease || lease.spec?.holderIdentity !== identity) return;
      try {
        await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, renewTime: undefined } } });
      } catch (err) {
        if (status(err) !== 409) throw err; // 409: taken over after expiry, nothing to release
      }
    },
    async holder() {
      const lease = await read();
      return lease && held(lease) ? lease.spec!.holderIdentity : undefined;
    },
  };
}
