// The rule catalogue, in evaluation order. Each rule lives in its own module.
import type { Rule } from '../rule';
import { sandboxHostNamespaces } from './sandbox-host-namespaces';
import { sandboxShareProcessNamespace } from './sandbox-share-process-namespace';
import { sandboxPrivileged } from './sandbox-privileged';
import { sandboxSubPath } from './sandbox-subpath';
import { sandboxHostPath, sandboxProcMounts } from './host-path';
import { placement } from './placement';
import { debugNamespace } from './debug-namespace';

export const RULES: Rule[] = [
  sandboxHostNamespaces,
  sandboxShareProcessNamespace,
  sandboxPrivileged,
  sandboxSubPath,
  sandboxProcMounts,
  sandboxHostPath,
  placement,
  debugNamespace,
];
