// Self-managed serving certificates: issuing a CA and a serving certificate (issue.ts) and
// deciding when to re-issue and which CAs to trust (plan.ts), both pure of the cluster.
// `podhooks certs` is command.ts; keeping them in a Secret and the webhooks' caBundle is
// kube/certstore.ts and kube/cert-reconcile.ts, the server's renewal loop server/cert-bootstrap.ts.
export * from './issue';
export * from './plan';
