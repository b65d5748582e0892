// The shapes injection passes around: the prepared pod (what is undone, parsed and
// looked up before injecting), the options and the result. inject.ts re-exports them.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import type { ParsedAnnotations } from './annotations';
import type { StartOffset } from './authz';
import type { InjectionStatus } from './draft';
import type { PlacementPlan } from './placement';

export interface ImageLookup {
  container: string;
  image: string;
  /** With spec.args the image CMD is replaced, so only the ENTRYPOINT is wanted. */
  hasArgs: boolean;
}

export interface PreparedPod {
  original: V1Pod;
  /** The pod without any previous podhooks injection. */
  base: V1Pod;
  parsed?: ParsedAnnotations;
  previous?: InjectionStatus;
  /** Why podhooks.io/status was not trusted and treated as absent (trust.ts). */
  untrustedStatus?: string;
  /** Why its runtime class record was not undone (the class stays; trust.ts). */
  keptRuntimeClass?: string;
  namespace?: string;
  nativeSidecars?: boolean;
  /** Why nothing is injected (excluded namespace, opt-out, no hooks requested). */
  skip?: string;
  errors: string[];
  /** preStart containers with no command and no entrypoint annotation: ask the registry. */
  imageLookups: ImageLookup[];
  /** The runtime class placement assigns (validation.placement.mode assign), with or without hooks. */
  placement?: PlacementPlan;
}

export interface InjectOptions {
  config: Config;
  nativeSidecars: boolean;
  namespace?: string;
  /** ENTRYPOINT(+CMD) per container, from the registry, for `imageLookups`. */
  imageCommands?: Record<string, string[]>;
  /** The CIDR the debug port is exposed to on the pod network (debug.network); unset: 127.0.0.1 only. */
  debugAllowFrom?: string;
  /** Milliseconds the authorization client waits before its first call (per-app pacing); a
   *  function is called only when the authz container is really added (it may take a token). */
  authzStartOffsetMs?: StartOffset;
}

export interface InjectResult {
  pod: V1Pod;
  changed: boolean;
  skip?: string;
  errors: string[];
  warnings: string[];
  /** Set when placement assigned the pod's runtime class. */
  placement?: PlacementPlan;
  /** Why podhooks.io/status was ignored (treated as absent); the caller records it. */
  untrustedStatus?: string;
  /** Why its runtime class record was ignored (the class stays); the caller records it. */
  keptRuntimeClass?: string;
}
