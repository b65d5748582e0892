// Every golden output as the apiserver stores it: accepted as written (server-side dry run,
// no podhooks webhook re-injects it), and then, with the apiserver's defaults filled in,
// re-injected with the case's own config, as `kubectl apply` of `podhooks inject` output
// reaches the webhook: the status is trusted (no warning) and records the same injection.
// This is the real defaulting the trust check (src/mutate/trust.ts, defaults.ts) must see
// through; the unit tests only imitate it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, NodeV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { podSlots } from '../../src/workloads';
import { ROOT } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { createNamespace, eventually } from './harness/webhooks';

jest.setTimeout(180_000);
type Obj = Record<string, any>;
const DIR = join(ROOT, 'test/golden');
const STATUS = 'podhooks.io/status';
const files = readdirSync(DIR).filter((f) => f.endsWith('.injected.yaml'));
let cp: ControlPlane;

function withoutCreated(status: string): Obj {
  const s = JSON.parse(status);
  delete s.created;
  for (const record of Object.values(s.changed ?? {}) as Obj[]) delete record.created;
  return s;
}

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const text = files.map((f) => readFileSync(join(DIR, f), 'utf8')).join('\n');
  const namespaces = new Set([...text.matchAll(/namespace: ([a-z0-9-]+)/g)].map((m) => m[1]));
  for (const ns of namespaces) await createNamespace(core, ns, {}).catch(() => undefined);
  // The ServiceAccount admission plugin needs each namespace's default ServiceAccount.
  for (const ns of namespaces) await eventually(`ServiceAccount ${ns}/default`, async () => core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).catch(() => undefined));
  const node = kc.makeApiClient(NodeV1Api);
  for (const rc of new Set([...text.matchAll(/runtimeClassName: ([a-z0-9-]+)/g)].map((m) => m[1]))) await node.createRuntimeClass({ body: { metadata: { name: rc }, handler: rc } });
});
afterAll(async () => {
  await cp?.stop();
});

test.each(files)('%s: accepted by the apiserver, and its defaulted pods re-inject unchanged with a trusted status', (file) => {
  const r = cp.kubectl(['create', '--dry-run=server', '-o', 'yaml', '-f', join(DIR, file)]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const stored: Obj[] = parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .flatMap((o: Obj) => (o.kind === 'List' ? o.items : [o]));
  const configFile = join(DIR, file.replace(/\.injected\.yaml$/, '.config.yaml'));
  const config = loadConfig(existsSync(configFile) ? configFile : undefined);
  // (A case whose output podhooks left alone has no status to trust.)
  const slots = podSlots(stored, file).filter((s) => s.pod.metadata?.annotations?.[STATUS] !== undefined);
  for (const slot of slots) {
    const again = injectPod(slot.pod, { config, nativeSidecars: config.injection.nativeSidecars !== 'false', namespace: slot.namespace });
    const said = [...again.errors, ...again.warnings].filter((w) => w.includes(STATUS));
    expect({ where: slot.where, untrusted: again.untrustedStatus, kept: again.keptRuntimeClass, said }).toEqual({ where: slot.where, untrusted: undefined, kept: undefined, said: [] });
    // The same record; only the notes on which lists podhooks created may change, because the
    // apiserver added the ServiceAccount token volume and mounts the offline output did not have.
    expect(withoutCreated(again.pod.metadata!.annotations![STATUS])).toEqual(withoutCreated(slot.pod.metadata!.annotations![STATUS]));
  }
});
