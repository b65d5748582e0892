// What the podhooks config is: one YAML file, every field with a default so `podhooks serve`
// runs with no file at all. Errors name the field path, the bad value and what is allowed.
// The checks against the validating rules' catalogue and runtime-class matcher are added by
// load.ts: the rules import this file's types, so this file does not import them.
import { z } from 'zod';
import { durationSeconds } from '../duration';
import { accessEntryProblem } from '../registry/access';
import { capacityProblem } from '../authz/capacity';

const action = z.enum(['deny', 'warn', 'audit', 'off']);
export type Action = z.infer<typeof action>;

const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$/, 'a Kubernetes quantity such as 100m or 64Mi');
/** Go-style durations ("30s", "10m", "720h"; Go has no "d"), parsed to seconds. */
const duration = z
  .string()
  .regex(/^[0-9]+(s|m|h)$/, 'a duration such as 30s, 10m or 720h')
  .transform((v) => durationSeconds(v)!);

/** An allowedRegistries (host, host:port, CIDR) or internalCIDRs (CIDR) entry. */
const accessEntry = (cidrOnly: boolean) => (value: string, ctx: z.RefinementCtx) => {
  const problem = accessEntryProblem(value, cidrOnly);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

const resources = z.strictObject({
  requests: z.strictObject({ cpu: quantity, memory: quantity }),
  limits: z.strictObject({ cpu: quantity, memory: quantity }),
});

export const configSchema = z.strictObject({
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The namespace podhooks itself runs in; its pods are never mutated or validated. */
  namespace: z.string().default('podhooks'),
  serviceName: z.string().default('podhooks'),
  server: z
    .strictObject({
      address: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8443),
      metricsAddress: z.string().default('0.0.0.0'),
      metricsPort: z.number().int().min(0).max(65535).default(9090),
      certDir: z.string().default('certs'),
      /** Largest AdmissionReview accepted. The apiserver caps objects at ~3 MiB; pods are KBs. */
      bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      certReloadIntervalMs: z.number().int().min(100).default(2000),
      /** Seconds /readyz reports 503 before the listener closes (lets endpoints drain). */
      shutdownDelaySeconds: z.number().min(0).max(300).optional(),
      shutdownGraceSeconds: z.number().min(0).max(600).default(25),
      /** Open connections on the webhook port; more are closed at accept (memory stays bounded). */
      maxConnections: z.number().int().min(1).default(1000),
      /** Pod templates whose /mutate answer is kept (replicas of one template are injected
       *  once); 0 injects every pod. Pods over 32K characters with their patch are not kept. */
      templateCacheEntries: z.number().int().min(0).max(100_000).default(256),
      /** Time for the TLS handshake and, separately, for the request headers. */
      headersTimeoutMs: z.number().int().min(100).default(10_000),
      /** Time to receive a whole request. */
      requestTimeoutMs: z.number().int().min(100).default(15_000),
      /** An idle keep-alive connection is closed after this long. */
      keepAliveTimeoutMs: z.number().int().min(100).default(65_000),
      /** The webhook configurations' timeoutSeconds (the apiserver allows 1-30); the latency
       *  histogram's buckets reach it. The Helm chart sets both from webhooks.timeoutSeconds. */
      webhookTimeoutSeconds: z.number().int().min(1).max(30).default(5),
    })
    .check((ctx) => {
      if (ctx.value.headersTimeoutMs > ctx.value.requestTimeoutMs) {
        ctx.issues.push({ code: 'custom', input: ctx.value.headersTimeoutMs, path: ['headersTimeoutMs'], message: `must not exceed server.requestTimeoutMs (${ctx.value.requestTimeoutMs})` });
      }
    })
    .prefault({}),
  injection: z
    .strictObject({
      excludedNamespaces: z.array(z.string()).default(['kube-system', 'kube-public', 'kube-node-lease']),
      /** What a bad podhooks.io/* annotation does: deny the pod, or allow it un-injected with a warning. */
      invalidAnnotations: z.enum(['deny', 'warn']).default('deny'),
      nativeSidecars: z.enum(['auto', 'true', 'false']).default('auto'),
      toolsImage: z.string().default('ghcr.io/podhooks/tools:0.1.0'),
      toolsImagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
      preOnlineTimeoutSeconds: z.number().int().min(1).max(86400).default(300),
      /** Longest a preStart hook may run (podhooks.io/pre-start-timeout overrides per pod). */
      preStartTimeoutSeconds: z.number().int().min(1).max(86400).default(300),
      /** Deadline of the whole warm-up (podhooks.io/warmup-timeout overrides per pod). */
      warmupTimeoutSeconds: z.number().int().min(1).max(86400).default(300),
      /** What a failed warm-up does: keep the pod unready, or log a warning and go online (podhooks.io/warmup-failure). */
      warmupFailure: z.enum(['fail', 'warn']).default('fail'),
      /** Longest a post-offline hook may run (podhooks.io/post-offline-timeout overrides per pod). */
      postOfflineTimeoutSeconds: z.number().int().min(1).max(86400).default(15),
      /** Wait after the pod's endpoints are withdrawn, before the post-offline hook (podhooks.io/drain-delay). */
      drainDelaySeconds: z.number().int().min(0).max(86400).default(5),
      /** With post-offline: add drain delay + hook timeout + 5s to terminationGracePeriodSeconds
       *  instead of refusing a pod whose grace period cannot fit them. */
      raiseGracePeriod: z.boolean().default(false),
      /** Containers (names or globs with * and ?) podhooks never targets or touches, besides
       *  those it recognises as added by Istio, Linkerd, Vault agent and Dapr. */
      excludedContainers: z.array(z.string().min(1)).default([]),
      resources: resources.default({
        requests: { cpu: '10m', memory: '16Mi' },
        limits: { cpu: '200m', memory: '64Mi' },
      }),
      runAsUser: z.number().int().min(1).default(65532),
    })
    .prefault({}),
  registry: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** One deadline for a whole lookup (secrets, manifests, token, redirects, config); the webhook's own timeout is 5 s. */
      timeoutMs: z.number().int().min(100).max(60000).default(2000),
      cacheSize: z.number().int().min(0).default(1000),
      /** Registries reached over plain HTTP (host:port), e.g. a local test registry. */
      insecureRegistries: z.array(z.string()).default([]),
      /** Registries, token services and redirect targets (host, host:port or CIDR) that may be reached
       *  although their addresses are not public (loopback, private, link-local, cluster-internal). */
      allowedRegistries: z.array(z.string().superRefine(accessEntry(false))).default([]),
      /** Ranges that count as internal besides the special-purpose ones: pod and service CIDRs that are publicly routable. */
      internalCIDRs: z.array(z.string().superRefine(accessEntry(true))).default([]),
    })
    .prefault({}),
  debug: z
    .strictObject({
      namespaceLabel: z.string().default('podhooks.io/debug=allowed'),
      defaultPort: z.number().int().min(1).max(65535).default(5005),
      /** Loopback port the JVM's JDWP agent listens on; socat forwards the debug port to it. */
      jvmPort: z.number().int().min(1).max(65535).default(15005),
      socatImage: z.string().optional(),
      /** The debug port listens on 127.0.0.1 (reached with kubectl port-forward) unless exposed here. */
      network: z
        .strictObject({
          /** Namespaces with this label get the debug port on the pod network, from allowFrom only. */
          namespaceLabel: z.string().min(1).default('podhooks.io/debug-network=allowed'),
          /** Every namespace where debug mode is allowed gets it (no label needed). */
          allNamespaces: z.boolean().default(false),
          /** The one CIDR the exposed debug port accepts connections from (socat's range= takes one). */
          allowFrom: z.string().superRefine(accessEntry(true)).optional(),
        })
        .prefault({})
        .check((ctx) => {
          if (ctx.value.allNamespaces && !ctx.value.allowFrom) {
            ctx.issues.push({ code: 'custom', input: true, path: ['allNamespaces'], message: 'needs debug.network.allowFrom, the CIDR debuggers connect from' });
          }
        }),
    })
    .prefault({}),
  authz: z
    .strictObject({
      url: z.string().default('http://authz.podhooks.svc:8080/v1/registrations'),
      namespaceDefault: z.array(z.string()).default([]),
      whitelistPorts: z.array(z.number().int().min(1).max(65535)).default([8080, 8081, 9090, 9100, 15020]),
      timeoutMs: z.number().int().min(100).default(2000),
      maxAttempts: z.number().int().min(1).max(50).default(6),
      baseBackoffMs: z.number().int().min(10).default(200),
      maxBackoffMs: z.number().int().min(10).default(10000),
      deadlineSeconds: z.number().int().min(1).default(120),
      failMode: z.enum(['closed', 'open']).default('closed'),
      /** Pods per second per (namespace, app) allowed to reach the service, cluster-wide. */
      ratePerApp: z.number().positive().default(5),
      burstPerApp: z.number().int().min(1).default(5),
      /** Pods per second reaching the service from all apps together; every authz pod draws from it too. */
      ratePerCluster: z.number().positive().default(20),
      burstPerCluster: z.number().int().min(1).default(10),
      /** Webhook replicas: each replica paces at rate / replicas (per app and cluster-wide). */
      replicas: z.number().int().min(1).default(1),
      maxTrackedApps: z.number().int().min(1).default(10000),
      /** Concurrent registrations the service takes; with expectedLatencyMs, budgets that cannot fit are refused. */
      serviceCapacity: z.number().int().min(1).optional(),
      /** The service's usual time per registration. */
      expectedLatencyMs: z.number().int().min(1).optional(),
    })
    .check((ctx) => {
      const a = ctx.value;
      const issue = (path: string, input: unknown, message: string) => ctx.issues.push({ code: 'custom', input, path: [path], message });
      if (a.maxBackoffMs < a.baseBackoffMs) issue('maxBackoffMs', a.maxBackoffMs, 'must be at least authz.baseBackoffMs');
      if ((a.serviceCapacity === undefined) !== (a.expectedLatencyMs === undefined)) {
        const [set, unset] = a.serviceCapacity === undefined ? ['expectedLatencyMs', 'serviceCapacity'] : ['serviceCapacity', 'expectedLatencyMs'];
        issue(unset, undefined, `must be set together with authz.${set}: the capacity check needs both (in flight ~ burst + rate x latency)`);
        return;
      }
      if (a.serviceCapacity === undefined || a.expectedLatencyMs === undefined) return;
      if (a.expectedLatencyMs >= a.timeoutMs) issue('expectedLatencyMs', a.expectedLatencyMs, `is not below authz.timeoutMs (${a.timeoutMs}): most calls would time out and be retried; raise timeoutMs`);
      const problem = capacityProblem({ ...a, serviceCapacity: a.serviceCapacity, expectedLatencyMs: a.expectedLatencyMs });
      if (problem) issue('burstPerCluster', a.burstPerCluster, problem);
    })
    .prefault({}),
  validation: z
    .strictObject({
      /**
       * Who enforces the rules: the validating webhook, the ValidatingAdmissionPolicies of
       * `podhooks policy render` (in-process in the apiserver, fail-closed), or both. With
       * the policies, serve reports when the cluster's differ from this config.
       */
      engine: z.enum(['webhook', 'admission-policy', 'both']).default('webhook'),
      sandboxRuntimeClasses: z.array(z.string()).default(['kata*', 'gvisor', 'runsc']),
      /** Action per rule id (load.ts checks the ids against the rule catalogue). */
      rules: z.record(z.string(), action).default({}),
      exemptNamespaces: z.array(z.string()).default([]),
      /** Pods carrying any of these label=value pairs are not evaluated. */
      exemptLabels: z.record(z.string(), z.string()).default({}),
      /** `podhooks serve` audits the cluster's pods this often (one replica, via a Lease); 0 = never. */
      auditIntervalSeconds: z.number().int().min(0).default(0),
      /** The periodic audit keeps one openreports.io Report per namespace with violations. */
      auditReports: z.boolean().default(true),
      procMountAllowlist: z.array(z.string()).default(['/proc/cpuinfo', '/proc/meminfo', '/proc/stat', '/proc/uptime']),
      placement: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** deny: the validating rule refuses misplaced pods. assign: the mutating webhook also
           *  sets sandboxRuntimeClass on offline pods that set no runtime class. */
          mode: z.enum(['deny', 'assign']).default('deny'),
          label: z.string().default('podhooks.io/workload'),
          offlineValues: z.array(z.string()).default(['offline', 'batch']),
          onlineValues: z.array(z.string()).default(['online']),
          sandboxRuntimeClass: z.string().default('kata'),
        })
        .prefault({}),
    })
    // load.ts checks placement.sandboxRuntimeClass against sandboxRuntimeClasses.
    .prefault({}),
  /** Serving certificates: from files (certDir; dev CA, cert-manager or a Secret volume) or managed in a Secret. */
  certificates: z
    .strictObject({
      mode: z.enum(['files', 'secret']).default('files'),
      secretName: z.string().min(1).default('podhooks-tls'),
      /** The CA's key lives here, apart from the serving Secret the webhook pods read (same namespace). */
      caSecretName: z.string().min(1).default('podhooks-ca'),
      leaseName: z.string().min(1).default('podhooks-certificates'),
      mutatingWebhookConfiguration: z.string().min(1).default('podhooks'),
      validatingWebhookConfiguration: z.string().min(1).default('podhooks'),
      caValidity: duration.prefault('87600h'),
      validity: duration.prefault('8760h'),
      renewBefore: duration.prefault('720h'),
      checkInterval: duration.prefault('1m'),
      /** Wait after trusting a new CA in caBundle before any replica serves a certificate it signed. */
      caPropagation: duration.prefault('5s'),
      leaseDuration: duration.prefault('30s'),
      /** How long a replica waits at start-up for another replica to store the Secret. */
      waitTimeout: duration.prefault('2m'),
      extraDnsNames: z.array(z.string()).default([]),
      extraIPs: z.array(z.string()).default([]),
    })
    .prefault({})
    .check((ctx) => {
      const c = ctx.value;
      if (c.renewBefore >= c.validity) ctx.issues.push({ code: 'custom', input: c.renewBefore, path: ['renewBefore'], message: `must be shorter than certificates.validity (${c.validity}s), or every check re-issues` });
      if (c.validity > c.caValidity) ctx.issues.push({ code: 'custom', input: c.validity, path: ['validity'], message: `must not exceed certificates.caValidity (${c.caValidity}s)` });
    }),
  kubernetes: z
    .strictObject({
      /** auto: use a kubeconfig or in-cluster service account when one is found. */
      enabled: z.enum(['auto', 'true', 'false']).default('auto'),
      kubeconfig: z.string().optional(),
      /** Bound on any API call made while an admission request waits. */
      apiTimeoutMs: z.number().int().min(50).default(1000),
      eventQueueSize: z.number().int().min(1).default(1000),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}
