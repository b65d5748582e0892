// Does the cluster enforce what this config renders? Each rendered policy and binding
// carries the digest of its own content; an object that is missing, differs, or should
// not be there (a rule switched off, a binding left behind) is drift. Read by name only
// (RBAC: get with resourceNames), for `podhooks policy check` and for `podhooks serve` with
// validation.engine both | admission-policy.
import type { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import type { Config } from '../../config';
import { deadline } from '../../kube/deadline';
import { RULES } from '../rules';
import { DIGEST, policyName, renderPolicies } from './render';

export interface Drift {
  kind: 'ValidatingAdmissionPolicy' | 'ValidatingAdmissionPolicyBinding';
  name: string;
  problem: 'missing' | 'differs' | 'unexpected';
  /** What to do about it, in one line. */
  detail: string;
}

type Reader = (name: string) => Promise<{ metadata?: { annotations?: Record<string, string> } } | undefined>;

function reader(read: (args: { name: string }, options: ReturnType<typeof deadline>) => Promise<{ metadata?: { annotations?: Record<string, string> } }>, timeoutMs: number): Reader {
  return async (name) => {
    try {
      return await read({ name }, deadline(timeoutMs));
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
}

/** Pure comparison: the rendered objects against what the two readers find in the cluster. */
export async function compareWithCluster(config: Config, readPolicy: Reader, readBinding: Reader): Promise<Drift[]> {
  const expected = new Map(renderPolicies(config).objects.map((o) => [`${o.kind}/${o.metadata!.name}`, o.metadata!.annotations![DIGEST]]));
  const drift: Drift[] = [];
  const fix = 'apply the output of `podhooks policy render` for this config';
  for (const rule of RULES) {
    const name = policyName(rule);
    for (const [kind, read] of [['ValidatingAdmissionPolicy', readPolicy], ['ValidatingAdmissionPolicyBinding', readBinding]] as const) {
      const want = expected.get(`${kind}/${name}`);
      const found = await read(name);
      if (want === undefined) {
        if (found) drift.push({ kind, name, problem: 'unexpected', detail: `rule ${rule.id} is off in this config: delete ${kind.toLowerCase()} ${name}` });
      } else if (!found) drift.push({ kind, name, problem: 'missing', detail: fix });
      else if (found.metadata?.annotations?.[DIGEST] !== want) drift.push({ kind, name, problem: 'differs', detail: `rendered from another config or podhooks version: ${fix}` });
    }
  }
  return drift;
}

export function policyDrift(api: AdmissionregistrationV1Api, config: Config, timeoutMs: number): Promise<Drift[]> {
  return compareWithCluster(
    config,
    reader((a, o) => api.readValidatingAdmissionPolicy(a, o), timeoutMs),
    reader((a, o) => api.readValidatingAdmissionPolicyBinding(a, o), timeoutMs),
  );
}
