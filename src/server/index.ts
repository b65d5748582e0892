// `podhooks serve`: one HTTPS server on one port (admission paths on the lean handler,
// everything else on express), Prometheus metrics on a separate plain-HTTP port.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mutate, mutatePlacement, mutateRecalled, validate, type AdmissionContext, type Outcome } from '../admission/handlers';
import { TemplateCache, type TemplateLookup } from '../admission/template-cache';
import { authzPacing } from '../authz/pacing';
import { startPolicyAudit } from '../audit/serve';
import type { Config } from '../config';
import { connectCluster, withTimeout, type Cluster } from '../kube/cluster';
import { namespaceLabelCache } from '../kube/namespaces';
import { runtimeClassCache } from '../kube/runtimeclasses';
import { registryImageCommands } from '../registry/image-commands';
import { RegistryClient } from '../registry/oci';
import type { Logger } from '../log';
import { Metrics } from '../metrics';
import { createAdmissionHandler, webhookForPath } from './admission-http';
import { createApp } from './app';
import { initialCertificate, TLS_POLICY, watchCertificate } from './tls';

export interface RunningServer {
  port: number;
  metricsPort: number;
  metrics: Metrics;
  cluster?: Cluster;
  ctx: AdmissionContext;
  /** Drain: readiness off, wait shutdownDelaySeconds, finish in-flight requests, close. */
  shutdown(): Promise<void>;
}

/** Prometheus scrapes one connection at a time; a few spare for people with curl. */
const METRICS_MAX_CONNECTIONS = 32;

/** At most `max` open connections; more are closed at accept and counted (memory stays bounded). */
function bound(server: HttpServer | HttpsServer, max: number, port: 'webhook' | 'metrics', metrics: Metrics): void {
  server.maxConnections = max;
  server.on('drop', () => metrics.connectionsDropped.inc({ port }));
}

/** The per-template answers, each lookup counted (children bound once: no label lookup per review). */
function templateCache(entries: number, metrics: Metrics): TemplateCache<Outcome> {
  const counters = new Map((['hit', 'miss', 'not-kept'] as TemplateLookup[]).map((r) => [r, metrics.templateCache.labels(r)]));
  return new TemplateCache(entries, (result, recalled) => {
    counters.get(result)!.inc();
    if (recalled) metrics.templateRecalled.inc();
  });
}

function listen(server: HttpServer | HttpsServer, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function nativeSidecarsFor(config: Config, cluster: Cluster | undefined, logger: Logger): Promise<boolean> {
  const setting = config.injection.nativeSidecars;
  if (setting !== 'auto') return setting === 'true';
  if (!cluster) return true;
  try {
    // A dead or slow API must not hold up start-up: fall back after the API bound.
    const v = await withTimeout(cluster.version(), config.kubernetes.apiTimeoutMs * 3, 'reading the apiserver version');
    // SidecarContainers is on by default from 1.29 (beta) and GA in 1.33.
    const native = v.major > 1 || v.minor >= 29;
    logger.info({ apiserver: v.gitVersion, nativeSidecars: native }, 'sidecar mode from the apiserver version');
    return native;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not read the apiserver version; assuming native sidecars (Kubernetes >= 1.29)');
    return true;
  }
}

export async function startServer(config: Config, logger: Logger, metrics = new Metrics(true, config.server.webhookTimeoutSeconds)): Promise<RunningServer> {
  const cluster = await connectCluster(config);
  if (cluster) logger.info({ source: cluster.source }, 'cluster features enabled');
  else logger.info('no cluster configured: events, namespace lookups and certificate bootstrap are off');
  // certificates.mode secret: loaded lazily, like client-node, so `npm start` stays cluster-free.
  const managed = config.certificates.mode === 'secret' ? await (await import('./cert-bootstrap')).bootstrapCertificates(cluster, config, logger, metrics) : undefined;
  const tls = managed?.initial ?? initialCertificate(config, logger, metrics);

  const ctx: AdmissionContext = {
    config,
    nativeSidecars: await nativeSidecarsFor(config, cluster, logger),
    namespaces: cluster ? namespaceLabelCache(cluster, config.kubernetes.apiTimeoutMs) : undefined,
    runtimeClasses: cluster ? runtimeClassCache(cluster, config.kubernetes.apiTimeoutMs) : undefined,
    images: config.registry.enabled
      ? registryImageCommands(
          new RegistryClient({
            timeoutMs: config.registry.timeoutMs,
            cacheSize: config.registry.cacheSize,
            insecureRegistries: config.registry.insecureRegistries,
            allowedRegistries: config.registry.allowedRegistries,
            internalCIDRs: config.registry.internalCIDRs,
          }),
          cluster,
          config.kubernetes.apiTimeoutMs,
        )
      : undefined,
    authzOffset: authzPacing(config).offset,
    templates: templateCache(config.server.templateCacheEntries, metrics),
  };

  const policyAudit = await startPolicyAudit(config, cluster, logger, metrics);
  let draining = false;
  const admission = createAdmissionHandler({
    ctx,
    decide: { mutate, validate, placement: mutatePlacement },
    recall: { mutate: mutateRecalled },
    onDecision: policyAudit.onDecision,
    bodyLimitBytes: config.server.bodyLimitBytes,
    logger,
    metrics,
    draining: () => draining,
  });
  const app = createApp({ ready: () => !draining, readyReason: () => 'shutting down' });

  const limits = config.server;
  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...TLS_POLICY,
      // Slow or idle clients give their slot back: the TLS handshake and the headers each
      // get headersTimeoutMs, the whole request requestTimeoutMs, checked every second.
      handshakeTimeout: limits.headersTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      const webhook = webhookForPath(req.url);
      if (webhook) admission(webhook, req, res);
      else app(req, res);
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  bound(server, limits.maxConnections, 'webhook', metrics);
  const metricsServer = createHttpServer({ headersTimeout: 10_000, requestTimeout: 10_000, connectionsCheckingInterval: 1000 }, async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    const body = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
  });

  const port = await listen(server, config.server.port, config.server.address);
  const metricsPort = await listen(metricsServer, config.server.metricsPort, config.server.metricsAddress);
  bound(metricsServer, METRICS_MAX_CONNECTIONS, 'metrics', metrics);
  const stopWatching = managed ? managed.start((pair) => server.setSecureContext({ ...pair, ...TLS_POLICY })) : watchCertificate(server, config, logger, metrics, tls.cert);
  logger.info({ port, metricsPort, address: config.server.address, nativeSidecars: ctx.nativeSidecars }, 'podhooks serving');

  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      draining = true;
      const delay = config.server.shutdownDelaySeconds ?? (process.env.KUBERNETES_SERVICE_HOST ? 5 : 0);
      logger.info({ delaySeconds: delay }, 'shutting down: readiness off, draining');
      if (delay > 0) await new Promise((r) => setTimeout(r, delay * 1000));
      stopWatching();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const grace = new Promise<void>((r) => setTimeout(r, config.server.shutdownGraceSeconds * 1000).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      await policyAudit.stop();
      await new Promise<void>((r) => metricsServer.close(() => r()));
      logger.info('podhooks stopped');
    })());

  return { port, metricsPort, metrics, cluster, ctx, shutdown };
}
