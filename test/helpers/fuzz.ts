// Hostile and odd AdmissionReviews for the fuzz tests (npm test) and the fuzz benchmark:
// fast-check builds structurally plausible reviews with random podhooks annotations,
// probes and policy fields; mutateBytes damages valid ones at the byte level.
import { Agent } from 'node:https';
import fc from 'fast-check';
import { applyPatch } from 'fast-json-patch';
import { A } from '../../src/mutate/annotations';
import { post, type Podhooks } from './podhooks';

const JSON_TYPE = { 'content-type': 'application/json' };

const annotationValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('true', 'echo hi', 'http://localhost:8080/health') },
  fc.constantFrom('true', 'false', 'TRUE', '', ' ', 'echo hi', 'exit 3', '5005', '0', '65536', '-1', '5m', '1h', 'forever', 'http://localhost:8080/health', 'ftp://x', '["/bin/sh","-c","x"]', '[1,2]', '{'),
  fc.string({ maxLength: 40 }),
);
const annotationKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(A.preStart, A.preOnline, A.checkUrl, A.logStream, A.debug, A.authz) },
  fc.constantFrom(...Object.values(A).filter((k) => !k.endsWith('.')), `${A.entrypoint}app`, `${A.entrypoint}nope`, 'podhooks.io/unknown', 'example.com/other'),
  fc.string({ maxLength: 20 }).map((s) => `podhooks.io/${s}`),
);
// Well-formed opt-ins, so that the fuzz reaches injection and not only annotation errors.
const validAnnotations = fc.record(
  {
    [A.preStart]: fc.constantFrom('echo warming up', './prepare.sh'),
    [A.logStream]: fc.constantFrom('true', 'false'),
    [A.preOnline]: fc.constant('wget -qO- http://localhost:8080/enable'),
    [A.checkUrl]: fc.constant('http://localhost:8080/health'),
    [A.debug]: fc.constantFrom('true', 'false'),
    [A.authz]: fc.constantFrom('true', 'false'),
  },
  { requiredKeys: [A.preStart] },
).map((a) => {
  if ((a[A.preOnline] === undefined) !== (a[A.checkUrl] === undefined)) delete a[A.preOnline], delete a[A.checkUrl];
  return a;
});
const port = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom('http', 'nope', 0, -1, 70000, '8080'));
const probe = fc.oneof(
  fc.record({ httpGet: fc.record({ path: fc.string({ maxLength: 20 }), port, httpHeaders: fc.option(fc.array(fc.record({ name: fc.string({ maxLength: 8 }), value: fc.string({ maxLength: 8 }) }), { maxLength: 2 }), { nil: undefined }) }), periodSeconds: fc.option(fc.integer({ min: -1, max: 100 }), { nil: undefined }) }),
  fc.record({ tcpSocket: fc.record({ port }) }),
  fc.record({ exec: fc.record({ command: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }) }) }),
  fc.record({ grpc: fc.record({ port: fc.integer({ min: -1, max: 70000 }), service: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }) }) }),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 2 }),
);
const container = fc.record(
  {
    name: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('app', 'side') }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom('podhooks-tools', 'APP', ''), fc.string({ maxLength: 12 })) }),
    image: fc.constantFrom('registry.example.com/web:1', 'busybox', '', 'bad image ref'),
    command: fc.option(fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }), { nil: undefined }),
    args: fc.option(fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }), { nil: undefined }),
    ports: fc.option(fc.array(fc.record({ containerPort: fc.integer({ min: -1, max: 70000 }), name: fc.option(fc.constantFrom('http', 'jdwp', 'metrics'), { nil: undefined }) }), { maxLength: 3 }), { nil: undefined }),
    livenessProbe: fc.option(probe, { nil: undefined }),
    readinessProbe: fc.option(probe, { nil: undefined }),
    env: fc.option(fc.array(fc.record({ name: fc.constantFrom('JAVA_TOOL_OPTIONS', 'X', ''), value: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) }), { maxLength: 2 }), { nil: undefined }),
    securityContext: fc.option(fc.record({ privileged: fc.boolean() }), { nil: undefined }),
    volumeMounts: fc.option(fc.array(fc.record({ name: fc.constantFrom('data', 'proc', 'podhooks-bin'), mountPath: fc.constantFrom('/data', '/host/proc'), subPath: fc.option(fc.constant('x'), { nil: undefined }) }), { maxLength: 2 }), { nil: undefined }),
  },
  { requiredKeys: ['name'] },
);
export const podArb = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record(
      {
        name: fc.string({ maxLength: 12 }),
        namespace: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('default', 'shop') }, { weight: 1, arbitrary: fc.constantFrom('kube-system', 'podhooks') }),
        labels: fc.option(fc.oneof(fc.record({ app: fc.constantFrom('web', 'db'), 'podhooks.io/workload': fc.constantFrom('offline', 'batch', 'online') }, { requiredKeys: [] }), fc.dictionary(fc.constantFrom('app', 'podhooks.io/inject'), fc.constantFrom('web', 'true', 'false'))), { nil: undefined }),
        annotations: fc.option(fc.oneof({ weight: 3, arbitrary: validAnnotations }, { weight: 2, arbitrary: fc.dictionary(annotationKey, annotationValue, { maxKeys: 6 }) }), { nil: undefined }),
      },
      { requiredKeys: ['name'] },
    ),
    spec: fc.record(
      {
        containers: fc.oneof({ weight: 10, arbitrary: fc.array(container, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant([]) }),
        initContainers: fc.option(fc.array(container, { maxLength: 2 }), { nil: undefined }),
        runtimeClassName: fc.option(fc.constantFrom('kata', 'kata-qemu', 'gvisor', 'runc'), { nil: undefined }),
        hostNetwork: fc.option(fc.boolean(), { nil: undefined }),
        hostPID: fc.option(fc.boolean(), { nil: undefined }),
        shareProcessNamespace: fc.option(fc.boolean(), { nil: undefined }),
        volumes: fc.option(fc.array(fc.oneof(fc.record({ name: fc.constantFrom('data', 'podhooks-bin'), emptyDir: fc.constant({}) }), fc.record({ name: fc.constant('proc'), hostPath: fc.record({ path: fc.constantFrom('/proc', '/proc/cpuinfo', '/var/log') }) })), { maxLength: 3 }), { nil: undefined }),
      },
      { requiredKeys: ['containers'] },
    ),
  },
  { requiredKeys: ['apiVersion', 'kind', 'metadata', 'spec'] },
);

/** A review whose envelope and object vary: wrong kinds, operations, missing fields, junk objects. */
export const reviewArb = fc.record({
  apiVersion: fc.oneof({ weight: 20, arbitrary: fc.constant('admission.k8s.io/v1') }, { weight: 1, arbitrary: fc.constantFrom('admission.k8s.io/v1beta1', 'v1') }),
  kind: fc.oneof({ weight: 20, arbitrary: fc.constant('AdmissionReview') }, { weight: 1, arbitrary: fc.constant('Pod') }),
  request: fc.oneof(
    { weight: 20, arbitrary: fc.record({
      uid: fc.oneof({ weight: 20, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.oneof(fc.constant(''), fc.integer()) }),
      kind: fc.oneof({ weight: 10, arbitrary: fc.constant({ group: '', version: 'v1', kind: 'Pod' }) }, { weight: 1, arbitrary: fc.constant({ group: 'apps', version: 'v1', kind: 'Deployment' }) }),
      resource: fc.constant({ group: '', version: 'v1', resource: 'pods' }),
      subResource: fc.oneof({ weight: 20, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('status', 'ephemeralcontainers', 'exec') }),
      namespace: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('default', 'shop') }, { weight: 1, arbitrary: fc.constantFrom('kube-system', '') }),
      operation: fc.oneof({ weight: 10, arbitrary: fc.constant('CREATE') }, { weight: 1, arbitrary: fc.constantFrom('UPDATE', 'DELETE', 'CONNECT', 'PATCH') }),
      userInfo: fc.constant({ username: 'fuzz@example.com' }),
      object: fc.oneof({ weight: 6, arbitrary: podArb }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }),
      oldObject: fc.option(podArb, { nil: null }),
      dryRun: fc.boolean(),
    }, { requiredKeys: ['uid', 'kind', 'resource', 'namespace', 'operation', 'userInfo', 'object', 'oldObject', 'dryRun'] }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  ),
});

/** Damage a valid body: flip, delete, duplicate or truncate bytes (deterministic per seed). */
export function mutateBytes(body: Buffer, seed: number): Buffer {
  let s = seed >>> 0 || 1;
  const rnd = (n: number) => ((s = (s * 1103515245 + 12345) >>> 0), s % n);
  const out = Buffer.from(body);
  switch (rnd(5)) {
    case 0:
      for (let i = 0, n = 1 + rnd(8); i < n; i++) out[rnd(out.length)] = rnd(256);
      return out;
    case 1:
      return out.subarray(0, rnd(out.length));
    case 2: {
      const at = rnd(out.length);
      return Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + rnd(40))]);
    }
    case 3: {
      const at = rnd(out.length);
      return Buffer.concat([out.subarray(0, at), out.subarray(at - rnd(Math.min(at, 50)))]);
    }
    default:
      // Swap a structural character for another one.
      for (let i = 0; i < out.length; i++) if ('{}[]:,"'.includes(String.fromCharCode(out[i])) && rnd(40) === 0) out[i] = '{}[]:,"'.charCodeAt(rnd(7));
      return out;
  }
}

/**
 * What a reply to `sent` must be: 200 with an AdmissionReview for the same uid whose
 * patch (if any) applies cleanly to the sent object, or a 4xx Status with a message.
 * Returns why it is not, or undefined.
 */
export function replyProblem(sent: Buffer, status: number, body: string): string | undefined {
  let reply: any;
  try {
    reply = JSON.parse(body);
  } catch {
    return `status ${status} with a body that is not JSON: ${body.slice(0, 200)}`;
  }
  if (status >= 400 && status < 500) {
    return typeof reply?.message === 'string' && reply.message.length > 10 ? undefined : `status ${status} without a clear message: ${body.slice(0, 200)}`;
  }
  if (status !== 200) return `status ${status}: ${body.slice(0, 300)}`;
  const request = JSON.parse(sent.toString('utf8')).request;
  const response = reply?.response;
  if (reply.kind !== 'AdmissionReview' || reply.apiVersion !== 'admission.k8s.io/v1') return `not an AdmissionReview: ${body.slice(0, 200)}`;
  if (response?.uid !== request.uid) return `uid ${JSON.stringify(response?.uid)} does not echo ${JSON.stringify(request.uid)}`;
  if (typeof response.allowed !== 'boolean') return 'response.allowed is not a boolean';
  if (!response.allowed && !(response.status?.message?.length > 10)) return `a denial without a clear message: ${body.slice(0, 300)}`;
  if (response.patch !== undefined) {
    if (response.patchType !== 'JSONPatch') return `patch without patchType JSONPatch`;
    try {
      const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
      applyPatch(JSON.parse(JSON.stringify(request.object)), ops, true, true);
    } catch (err) {
      return `the patch does not apply to the sent object: ${(err as Error).message}`;
    }
  }
  return undefined;
}

export interface Tally {
  problems: string[];
  /** Replies by kind, to show the generator reaches deep paths, not only the parser. */
  patched: number;
  denied: number;
  rejected: number;
}

/** Every admission path: each body goes to all of them. */
export const PATHS = ['/mutate', '/validate', '/mutate/placement'];

/** Send each body to every webhook path over 16 keep-alive connections; judge every reply. */
export async function fire(ph: Pick<Podhooks, 'port' | 'ca'>, bodies: Buffer[], onProgress?: (done: number) => void): Promise<Tally> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const tally: Tally = { problems: [], patched: 0, denied: 0, rejected: 0 };
  const problems = tally.problems;
  let next = 0;
  let answered = 0;
  const worker = async () => {
    while (next < bodies.length * PATHS.length) {
      // Each body goes to every webhook.
      const path = PATHS[next % PATHS.length];
      const i = Math.floor(next++ / PATHS.length);
      const reply = await post(ph, path, bodies[i], JSON_TYPE, 'POST', agent);
      if (reply.status !== 200) tally.rejected++;
      else if (reply.body.includes('"patch"')) tally.patched++;
      else if (reply.body.includes('"allowed":false')) tally.denied++;
      // A damaged body may still be valid JSON for a different request; judge it as sent.
      let problem: string | undefined;
      try {
        JSON.parse(bodies[i].toString('utf8'));
        problem = replyProblem(bodies[i], reply.status, reply.body);
      } catch {
        problem = reply.status >= 400 && reply.status < 500 && JSON.parse(reply.body).message ? undefined : `unparseable body got ${reply.status}: ${reply.body.slice(0, 200)}`;
      }
      if (++answered % 10000 === 0) onProgress?.(answered);
      if (problem) problems.push(`${path} #${i}: ${problem}\n  sent: ${bodies[i].toString('utf8').slice(0, 400)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  agent.destroy();
  return tally;
}

