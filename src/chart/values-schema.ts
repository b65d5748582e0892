// The Helm chart's values, as a zod schema: deploy/chart/values.schema.json is generated
// from it (`npm run chart:schema`), so `config:` is checked by Helm against exactly the
// schema `podhooks serve` parses, and a unit test fails when the file drifts.
import { z } from 'zod';
import { configSchema } from '../config';

const labels = z.record(z.string(), z.string());
const object = z.record(z.string(), z.unknown());
const quantity = z.union([z.string(), z.number()]);
const resources = z.strictObject({
  requests: z.record(z.string(), quantity).optional(),
  limits: z.record(z.string(), quantity).optional(),
});
/** config.validation.engine's own enum: the chart offers exactly what podhooks accepts. */
const engineSchema = configSchema.shape.validation.unwrap().shape.engine.unwrap();
const duration = z.string().regex(/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/, 'a Go duration such as 30s or 2160h');

export const chartValuesSchema = z.strictObject({
  image: z
    .strictObject({
      registry: z.string().min(1).describe('Registry and path of both images: <registry>/<webhook> and <registry>/<tools>.'),
      webhook: z.string().min(1).describe('The webhook image name under registry.'),
      tools: z.string().min(1).describe('The tools image (injected into pods) under registry; sets config.injection.toolsImage unless that is given.'),
      tag: z.string().describe('Tag of both images; empty: the chart appVersion.'),
      pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
    })
    .describe('One registry and tag for the webhook and the tools image.'),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })),
  replicaCount: z.number().int().min(1).describe('Webhook replicas; also config.authz.replicas (authorization pacing splits its rate across them).'),
  resources,
  podDisruptionBudget: z.strictObject({
    enabled: z.boolean(),
    minAvailable: z.union([z.number().int().min(0), z.string()]).optional(),
    maxUnavailable: z.union([z.number().int().min(0), z.string()]).optional(),
  }),
  affinity: object.describe('Replaces the default: preferred anti-affinity across nodes.'),
  topologySpreadConstraints: z.array(object),
  priorityClassName: z.string(),
  nodeSelector: labels,
  tolerations: z.array(object),
  podAnnotations: labels,
  podLabels: labels,
  extraEnv: z
    .array(z.strictObject({ name: z.string().min(1), value: z.string().optional(), valueFrom: object.optional() }))
    .describe('More environment variables of the webhook container (EnvVar objects), after its own; e.g. KUBERNETES_SERVICE_HOST/PORT where pods cannot reach the kubernetes Service, or HTTPS_PROXY.'),
  webhooks: z.strictObject({
    timeoutSeconds: z.number().int().min(1).max(30).describe("Every webhook's timeoutSeconds; also config.server.webhookTimeoutSeconds (the latency buckets and the alert reach it)."),
  }),
  certificates: z.strictObject({
    provider: z.enum(['self-managed', 'cert-manager', 'existing-secret']).describe('self-managed: the replicas issue and renew the certificate; cert-manager; existing-secret: you fill Secret config.certificates.secretName (podhooks certs --secret).'),
    caBundle: z.string().describe('existing-secret: the base64 PEM CA bundle for the webhooks; empty: set it with podhooks certs --patch-webhooks.'),
    certManager: z.strictObject({
      issuerRef: z
        .strictObject({ name: z.string().min(1), kind: z.string().optional(), group: z.string().optional() })
        .optional()
        .describe('Issue from this issuer; unset: a private CA chain of its own.'),
      duration,
      renewBefore: duration,
    }),
  }),
  networkPolicy: z
    .strictObject({
      enabled: z.boolean().describe('An opt-in NetworkPolicy (deploy/components/network-policy): only apiserverCIDRs reach the webhook port, only metricsFrom the metrics port.'),
      apiserverCIDRs: z.array(z.string().min(1)).describe('Required when enabled: the addresses the kube-apiservers connect from. A wrong list blocks the apiserver, and the fail-closed mutating webhooks then refuse opted-in pods.'),
      metricsFrom: z.array(object).describe('NetworkPolicyPeers that may scrape the metrics port.'),
    })
    .describe('Read docs/install.md "Security model" before enabling.'),
  validation: z.strictObject({
    engine: engineSchema.describe('Who enforces the validating rules; also config.validation.engine. admission-policy and both install the ValidatingAdmissionPolicies rendered from config; admission-policy registers no validating webhook.'),
  }),
  reportsCRD: z
    .strictObject({
      enabled: z.boolean().describe('Install the openreports.io Report CRD (deploy/components/reports-crd); leave off where Kyverno or openreports installed it.'),
      keep: z.boolean().describe('Annotate it helm.sh/resource-policy: keep, so uninstall leaves the CRD and its Reports.'),
    })
    .describe('For the Reports of the periodic audit (config.validation.auditIntervalSeconds, auditReports) and podhooks audit --report.'),
  serviceMonitor: z.strictObject({
    enabled: z.boolean().describe('A prometheus-operator ServiceMonitor for the metrics port (needs its CRD).'),
    interval: duration,
    labels,
  }),
  prometheusRule: z.strictObject({
    enabled: z.boolean().describe('Alert rules: certificate expiry, webhook errors and latency, apiserver rejections and fail-open (needs the CRD).'),
    labels,
    certificateExpiryDays: z.number().min(1),
    errorRatio: z.number().min(0).max(1),
    apiserverJob: z.string().min(1).describe('The Prometheus job that scrapes kube-apiserver (its apiserver_admission_webhook_* metrics).'),
  }),
  grafanaDashboard: z.strictObject({
    enabled: z.boolean().describe("A ConfigMap with the Grafana dashboard, for Grafana's dashboard sidecar."),
    labels,
    annotations: labels,
  }),
  config: configSchema.describe('The podhooks config file (README "Configuration"). namespace, serviceName, authz.replicas, server.webhookTimeoutSeconds and certificates.mode follow the chart values above.'),
  global: object.optional().describe('Values a parent chart shares.'),
});

/** values.schema.json: JSON Schema draft 7, which Helm 3 and 4 both read. */
export function chartValuesJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(chartValuesSchema, { io: 'input', target: 'draft-7', unrepresentable: 'throw' }) as Record<string, unknown>;
  return { ...schema, title: 'podhooks Helm chart values (generated from src/chart/values-schema.ts and src/config.ts by npm run chart:schema)' };
}

export function chartValuesJsonText(): string {
  return JSON.stringify(chartValuesJsonSchema(), null, 2) + '\n';
}
