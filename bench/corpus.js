// Realistic AdmissionReviews for the benchmarks: the pods of the golden corpus as the
// webhook really sees them, i.e. after the apiserver's defaulting and its own admission
// plugins (service-account token volume, default tolerations, managedFields), plus the
// labels, env and resources real workloads carry. Each review is 5-10 KB.
'use strict';
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parseAllDocuments } = require('yaml');

const GOLDEN = join(__dirname, '../test/golden');
const SKIP = ['.injected.yaml', '.config.yaml'];

function podsOf(doc) {
  if (!doc || typeof doc !== 'object') return [];
  if (doc.kind === 'List') return (doc.items ?? []).flatMap(podsOf);
  if (doc.kind === 'Pod') return [doc];
  const template = doc.spec?.template ?? doc.spec?.jobTemplate?.spec?.template;
  if (!template) return [];
  return [{ apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: `${doc.metadata?.name ?? 'pod'}-7d4b9c6f5-x2k9q`, namespace: doc.metadata?.namespace }, spec: template.spec }];
}

function defaulted(pod, i) {
  const ns = pod.metadata.namespace ?? 'shop';
  const app = pod.metadata.labels?.app ?? pod.metadata.name.split('-')[0];
  const env = Array.from({ length: 28 }, (_, k) => ({ name: `APP_SETTING_${k}`, value: `https://service-${k}.${ns}.svc.cluster.local:8443/api/v${k % 3 + 1}` }));
  const containers = pod.spec.containers.map((c) => ({
    imagePullPolicy: 'IfNotPresent',
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
    env: [...(c.env ?? []), ...env, { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } }],
    ...c,
    volumeMounts: [...(c.volumeMounts ?? []), { name: `kube-api-access-${i}abcd`, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
  }));
  const spec = {
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    serviceAccount: 'default',
    securityContext: {},
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    ...pod.spec,
    containers,
    volumes: [
      ...(pod.spec.volumes ?? []),
      {
        name: `kube-api-access-${i}abcd`,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      },
    ],
  };
  const metadata = {
    ...pod.metadata,
    namespace: ns,
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d4b9c6f5`, uid: '6f1c2a9e-3b7d-4c55-9a0e-2f8d1c4b7e10', controller: true, blockOwnerDeletion: true }],
    labels: { app, 'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/version': '1.4.2', 'pod-template-hash': '7d4b9c6f5', ...pod.metadata.labels },
    managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-25T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': Object.fromEntries(Object.keys(pod.metadata.labels ?? { app }).map((k) => [`f:${k}`, {}])) }, 'f:spec': { 'f:containers': Object.fromEntries(containers.map((c) => [`k:{"name":"${c.name}"}`, { '.': {}, 'f:env': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {}, 'f:resources': {} }])), 'f:dnsPolicy': {}, 'f:restartPolicy': {}, 'f:schedulerName': {}, 'f:securityContext': {}, 'f:terminationGracePeriodSeconds': {} } } }],
  };
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

function review(pod, i, operation = 'CREATE') {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      operation,
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'b0f4', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** The AdmissionReview bodies (Buffers) the load generators rotate through. */
function reviewBodies() {
  const pods = [];
  for (const file of readdirSync(GOLDEN).sort()) {
    if (!file.endsWith('.yaml') || SKIP.some((s) => file.endsWith(s))) continue;
    for (const doc of parseAllDocuments(readFileSync(join(GOLDEN, file), 'utf8'))) pods.push(...podsOf(doc.toJS()));
  }
  const bodies = pods.map((p, i) => {
    const pod = defaulted(p, i);
    let body = Buffer.from(JSON.stringify(review(pod, i)));
    // Small pods get the configuration env vars real services carry, up to 5 KB.
    for (let k = 0; body.length < 5120; k++) {
      pod.spec.containers[0].env.push({ name: `FEATURE_FLAG_${k}`, value: `enabled-for-${pod.metadata.namespace}-canary-cohort-${k}` });
      body = Buffer.from(JSON.stringify(review(pod, i)));
    }
    return body;
  });
  for (const b of bodies) {
    if (b.length < 5120 || b.length > 10240) throw new Error(`bench corpus: a review is ${b.length} bytes; keep them 5-10 KB`);
  }
  return bodies;
}

/** The reference pod: one app container with preStart and preOnline (plus the hook log stream). */
function twoHookPod() {
  return defaulted(
    {
      metadata: { name: 'checkout-7d4b9c6f5-x2k9q', namespace: 'shop', labels: { app: 'checkout' }, annotations: { 'podhooks.io/pre-start': './warm-caches.sh', 'podhooks.io/pre-online': './register.sh', 'podhooks.io/check-url': 'http://localhost:8080/healthz', 'podhooks.io/log-stream': 'true' } },
      spec: { containers: [{ name: 'app', image: 'registry.example.com/shop/checkout:1.4.2', command: ['/app/checkout'], ports: [{ containerPort: 8080, protocol: 'TCP' }] }] },
    },
    0,
  );
}

/** The review of `pod`, padded with configuration env vars to 6 KB, as the apiserver sends it. */
function paddedReview(pod, i) {
  let body = Buffer.from(JSON.stringify(review(pod, i)));
  for (let k = 0; body.length < 6144; k++) {
    pod.spec.containers[0].env.push({ name: `FEATURE_FLAG_${k}`, value: `enabled-for-shop-canary-cohort-${k}` });
    body = Buffer.from(JSON.stringify(review(pod, i)));
  }
  return body;
}

/** The 6 KB two-hook pod's review: the reference pod. */
function twoHookReviewBody() {
  return paddedReview(twoHookPod(), 0);
}

/** A controller's pod at mutating admission: generateName set, the name not made yet. */
function generated(pod, generateName) {
  delete pod.metadata.name;
  pod.metadata = { generateName, ...pod.metadata };
  return pod;
}

/** The ServiceAccount admission plugin's token volume has a name of its own in each pod. */
function withTokenVolume(pod, suffix) {
  const name = `kube-api-access-${suffix}`;
  const rename = (v) => (v.name.startsWith('kube-api-access-') ? { ...v, name } : v);
  pod.spec.volumes = pod.spec.volumes.map(rename);
  for (const c of pod.spec.containers) c.volumeMounts = c.volumeMounts.map(rename);
  return pod;
}

/**
 * `n` pods of the two-hook pod's template as a ReplicaSet's creates reach mutating
 * admission: generateName, no name yet, each with its own token volume name, managedFields
 * time and review uid. podhooks answers them from its per-template cache.
 */
function twoHookReplicaBodies(n) {
  return Array.from({ length: n }, (_, i) => {
    const pod = withTokenVolume(generated(twoHookPod(), 'checkout-7d4b9c6f5-'), (i + 36 ** 4).toString(36).slice(-5));
    pod.metadata.managedFields[0].time = new Date(Date.UTC(2026, 10, 25, 10) + i * 1000).toISOString().replace('.000', '');
    return paddedReview(pod, 100_000 + i);
  });
}

/**
 * `n` pods each of its own template, as an Indexed Job's completions (generateName and
 * completion index annotation per index): more templates than
 * server.templateCacheEntries (256), so in rotation every review misses the cache and is injected.
 */
function twoHookTemplateBodies(n) {
  return Array.from({ length: n }, (_, i) => {
    const pod = generated(twoHookPod(), `checkout-${i}-`);
    pod.metadata.annotations['batch.kubernetes.io/job-completion-index'] = String(i);
    return paddedReview(pod, 200_000 + i);
  });
}

module.exports = { reviewBodies, twoHookReviewBody, twoHookReplicaBodies, twoHookTemplateBodies };

if (require.main === module) {
  const bodies = reviewBodies();
  console.log(`${bodies.length} reviews, ${Math.min(...bodies.map((b) => b.length))}-${Math.max(...bodies.map((b) => b.length))} bytes; the two-hook pod's review: ${twoHookReviewBody().length} bytes`);
}
