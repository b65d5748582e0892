// Where things live: in the tools image, and in the volumes podhooks shares with the
// user's containers. One home for these paths; sidecars/ scripts use the same ones.
import type { V1Container, V1SecurityContext } from '@kubernetes/client-node';
import type { Config } from '../config';
import { deepFreeze } from '../freeze';
import { LruCache } from '../lru';

/** Inside the tools image. */
export const IMAGE_BIN = '/opt/podhooks/bin';
/** Inside the pod (shared emptyDirs). */
export const POD_BIN = '/podhooks/bin';
export const POD_LOGS = '/podhooks/logs';
export const POD_STATE = '/podhooks/state';
/** FIFOs by which classic sidecars see the app containers end (sidecar-end.ts). */
export const POD_RUN = '/podhooks/run';
export const BUSYBOX = `${POD_BIN}/busybox`;
export const ONLINE_MARK = `${POD_STATE}/online`;

export const NAMES = {
  toolsInit: 'podhooks-tools',
  logs: 'podhooks-logs',
  preOnline: 'podhooks-preonline',
  debug: 'podhooks-debug',
  authz: 'podhooks-authz',
  binVolume: 'podhooks-bin',
  logsVolume: 'podhooks-logs',
  stateVolume: 'podhooks-state',
  runVolume: 'podhooks-run',
} as const;

/** Pod Security Standards "restricted" for everything podhooks adds. */
export function restrictedSecurityContext(config: Config): V1SecurityContext {
  const uid = config.injection.runAsUser;
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The fields every injected container shares: image, pull policy, security, resources. */
export function injectedContainerBase(config: Config, image = config.injection.toolsImage): Omit<V1Container, 'name'> {
  const { requests, limits } = config.injection.resources;
  return {
    image,
    imagePullPolicy: config.injection.toolsImagePullPolicy,
    securityContext: restrictedSecurityContext(config),
    resources: { requests: { ...requests }, limits: { ...limits } },
  };
}

/**
 * A value that depends only on the config (and a small key): built once per config and
 * deep-frozen, so no pod's injection can change another's (the pods share it).
 */
export function perConfig<T extends object>(config: Config, key: string, make: () => T): T {
  let values = CONSTANTS.get(config);
  // Keys can carry pod-chosen names (log files per container): bounded, like any cache here.
  if (!values) CONSTANTS.set(config, (values = new LruCache(256)));
  let value = values.get(key) as T | undefined;
  if (!value) values.set(key, (value = deepFreeze(make())));
  return value;
}

const CONSTANTS = new WeakMap<Config, LruCache<string, object>>();

/** Env var whose value is read from one of the pod's annotations by the kubelet. */
export function annotationEnv(name: string, annotation: string) {
  return { name, valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${annotation}']` } } };
}
