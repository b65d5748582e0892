// The rule catalogue, in evaluation order. Each rule lives in its own module.
import type { Rule } from '../policy';
import { sandboxHostNamespaces } from './sandbox-host-namespaces';

export const RULES: Rule[] = [sandboxHostNamespaces];
