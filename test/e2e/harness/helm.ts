// Real Helm (scripts/provision-helm.sh builds it from the Go module proxy into the cache)
// and the published CRDs the chart's optional objects need.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../helpers/podhooks';

export const HELM_VERSION = process.env.PODHOOKS_HELM_VERSION ?? '4.3.1';
const CACHE = process.env.PODHOOKS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'podhooks');
export const CHART = join(ROOT, 'deploy/chart');
export const CRDS = join(
  CACHE,
  'crds',
  `prometheus-operator-v${process.env.PODHOOKS_PROMETHEUS_OPERATOR_VERSION ?? '0.85.0'}+cert-manager-v${process.env.PODHOOKS_CERT_MANAGER_VERSION ?? '1.21.2'}`,
);

export function helmBin(): string {
  const bin = join(process.env.PODHOOKS_HELM_CACHE ?? join(CACHE, 'helm', `v${HELM_VERSION}`), 'bin', 'helm');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/provision-helm.sh (npm run test:e2e does)`);
  return bin;
}

export function helm(args: string[]): { code: number | null; stdout: string; stderr: string } {
  // A private HELM_CACHE_HOME/CONFIG_HOME: nothing of the user's Helm set-up leaks in.
  const home = join(CACHE, 'helm', 'home');
  const r = spawnSync(helmBin(), args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') },
  });
  // Helm logs the chart's base/ and overlays/ symlinks at INFO level; only other lines matter.
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !l.includes('found symbolic link in path'))
    .join('\n');
  return { code: r.status, stdout: r.stdout, stderr };
}

/** `helm template podhooks deploy/chart -n NS` with extra flags. */
export function template(args: string[] = [], namespace = 'podhooks') {
  return helm(['template', 'podhooks', CHART, '--namespace', namespace, ...args]);
}

type Obj = Record<string, any>;
/** The labels the chart adds to every object (app.kubernetes.io/name is on some in deploy/ too). */
export const CHART_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version', 'helm.sh/chart'];

/**
 * Objects as the chart and kustomize both mean them, for comparison: no Namespace (Helm
 * installs into an existing one), no chart labels, no checksum/config, the config parsed
 * (`parse`: the podhooks config parser), sorted by kind and name.
 */
export function comparable(objects: Obj[], parse: (configYaml: string) => unknown): Obj[] {
  return objects
    .filter((o) => o.kind !== 'Namespace')
    .map((o) => {
      const { name, namespace, labels = {}, annotations } = o.metadata;
      const kept = Object.fromEntries(Object.entries(labels).filter(([k]) => !CHART_LABELS.includes(k)));
      const out: Obj = { ...o, metadata: { name, namespace, labels: kept, annotations } };
      if (o.kind === 'ConfigMap' && o.data?.['config.yaml']) out.data = { 'config.yaml': parse(o.data['config.yaml']) };
      if (o.kind === 'Deployment') {
        const t = o.spec.template.metadata;
        delete t.annotations?.['checksum/config'];
        if (t.annotations && !Object.keys(t.annotations).length) delete t.annotations;
        delete t.labels['app.kubernetes.io/instance'];
      }
      return out;
    })
    .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
}
