// Policy goldens: `policy/<case>.yaml` is a Pod or a workload (its pod template is judged);
// the expected validating-webhook answer
// is `policy/<case>.response.yaml` (decision, findings, AdmissionResponse). Optional side
// files: `<case>.config.yaml` (podhooks config), `<case>.namespace.yaml` (the Namespace,
// for its labels), `<case>.old.yaml` (makes the request an UPDATE from that pod).
// Regenerate: PODHOOKS_UPDATE_GOLDEN=1 npx jest --selectProjects golden -- -t 'policy/'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { validate, type AdmissionContext } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { loadConfig } from '../../src/config';
import { RULES } from '../../src/validate/rules';
import { WORKLOAD_GROUPS } from '../../src/workloads';

const DIR = join(__dirname, 'policy');
const UPDATE = process.env.PODHOOKS_UPDATE_GOLDEN === '1';
const SIDE = ['.response.yaml', '.config.yaml', '.namespace.yaml', '.old.yaml'];
const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && !SIDE.some((s) => f.endsWith(s)))
  .map((f) => f.slice(0, -'.yaml'.length))
  .sort();

const side = (name: string, suffix: string) => {
  const path = join(DIR, `${name}${suffix}`);
  return existsSync(path) ? path : undefined;
};

async function run(name: string): Promise<string> {
  const pod = parse(readFileSync(join(DIR, `${name}.yaml`), 'utf8'));
  const config = loadConfig(side(name, '.config.yaml'));
  const nsFile = side(name, '.namespace.yaml');
  const nsLabels: Record<string, string> = nsFile ? (parse(readFileSync(nsFile, 'utf8')).metadata?.labels ?? {}) : {};
  const oldFile = side(name, '.old.yaml');
  const namespace = pod.metadata?.namespace ?? 'default';
  const req: AdmissionRequest = {
    uid: `golden-${name}`,
    kind: { group: WORKLOAD_GROUPS[pod.kind] ?? '', version: 'v1', kind: pod.kind ?? 'Pod' },
    namespace,
    name: pod.metadata?.name,
    operation: oldFile ? 'UPDATE' : 'CREATE',
    userInfo: { username: 'alice@example.com' },
    object: pod,
    ...(oldFile ? { oldObject: parse(readFileSync(oldFile, 'utf8')) } : {}),
  };
  const ctx: AdmissionContext = { config, nativeSidecars: true, namespaces: { labels: async () => nsLabels } };
  const outcome = await validate(req, ctx);
  return stringify({ decision: outcome.decision, reason: outcome.reason, findings: outcome.findings, response: outcome.response }, { lineWidth: 0 });
}

test('the policy golden corpus covers every rule and action', () => {
  const all = cases.map((c) => readFileSync(join(DIR, `${c}.response.yaml`), 'utf8')).join('\n');
  // From the catalogue itself: a new rule without a golden case fails here.
  for (const { id } of RULES) {
    expect(all).toContain(`rule: ${id}`);
  }
  for (const decision of ['allowed', 'denied', 'warned', 'audited']) expect(all).toContain(`decision: ${decision}`);
});

describe.each(cases)('policy/%s', (name) => {
  test('matches the golden response', async () => {
    const actual = await run(name);
    const path = join(DIR, `${name}.response.yaml`);
    if (UPDATE) return writeFileSync(path, actual);
    if (!existsSync(path)) throw new Error(`policy/${name}.response.yaml is missing: run PODHOOKS_UPDATE_GOLDEN=1 npx jest --selectProjects golden -- -t 'policy/' and review the diff`);
    expect(actual).toBe(readFileSync(path, 'utf8'));
  });
});
