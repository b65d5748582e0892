// The Helm chart's values schema and policy template are generated from the code; these
// tests fail when a committed file drifts, when the chart's defaults do not satisfy it, and when the
// dashboard asks for a metric podhooks does not export.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { policiesTemplateText } from '../../src/chart/policies-template';
import { chartValuesJsonText, chartValuesSchema } from '../../src/chart/values-schema';
import { parseConfig } from '../../src/config';
import { APISERVER_METRICS, exportedMetricNames, promqlProblems } from '../helpers/promql';

const CHART = join(__dirname, '../../deploy/chart');
const read = (file: string) => readFileSync(join(CHART, file), 'utf8');

test('values.schema.json is what npm run chart:schema generates from src/config.ts (run it after changing the config schema)', () => {
  expect(read('values.schema.json')).toBe(chartValuesJsonText());
});

test('templates/_policies.tpl is what npm run chart:schema generates from the policy renderer (run it after changing a rule or render.ts)', () => {
  expect(read('templates/_policies.tpl')).toBe(policiesTemplateText());
});

test('validation.engine offers exactly the engines config.validation.engine accepts', () => {
  const values = parse(read('values.yaml'));
  const candidates = ['webhook', 'admission-policy', 'both', 'policy', 'vap'];
  const byChart = candidates.filter((engine) => chartValuesSchema.safeParse({ ...values, validation: { engine } }).success);
  const byConfig = candidates.filter((engine) => {
    try {
      return Boolean(parseConfig({ validation: { engine } }));
    } catch {
      return false;
    }
  });
  expect(byChart).toEqual(['webhook', 'admission-policy', 'both']);
  expect(byChart).toEqual(byConfig);
});

test('values.yaml satisfies the schema, and its config renders the built-in defaults', () => {
  const values = parse(read('values.yaml'));
  const parsed = chartValuesSchema.safeParse(values);
  expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  expect(parseConfig(values.config)).toEqual(parseConfig({}));
});

test('the schema refuses what podhooks serve would refuse, naming the field', () => {
  const values = parse(read('values.yaml'));
  const bad = chartValuesSchema.safeParse({ ...values, config: { logLevel: 'loud', server: { webhookTimeoutSeconds: 31 }, authz: { failMode: 'sometimes' } } });
  expect(bad.success).toBe(false);
  expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['config.authz.failMode', 'config.logLevel', 'config.server.webhookTimeoutSeconds']);
  expect(chartValuesSchema.safeParse({ ...values, replicas: 3 }).success).toBe(false);
  expect(chartValuesSchema.safeParse({ ...values, certificates: { ...values.certificates, provider: 'vault' } }).success).toBe(false);
});

test('one version: Chart.yaml appVersion, package.json, and the default tools image tag', () => {
  const chart = parse(read('Chart.yaml'));
  const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8'));
  expect(chart.appVersion).toBe(pkg.version);
  const values = parse(read('values.yaml'));
  expect(`${values.image.registry}/${values.image.tools}:${chart.appVersion}`).toBe(parseConfig({}).injection.toolsImage);
});

test('the Grafana dashboard: valid JSON, every query valid PromQL over metrics podhooks or the apiserver export', async () => {
  const dashboard = JSON.parse(read('dashboards/podhooks.json'));
  const exported = await exportedMetricNames();
  const panels = dashboard.panels.filter((p: any) => p.type !== 'row');
  expect(panels.length).toBeGreaterThanOrEqual(10);
  for (const panel of panels) {
    expect(panel.targets.length).toBeGreaterThan(0);
    for (const target of panel.targets) {
      // Grafana's variables are replaced as Grafana does before the query is sent.
      const expr = target.expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', 'podhooks');
      const { errors, metrics } = promqlProblems(expr);
      expect([panel.title, errors]).toEqual([panel.title, []]);
      expect(metrics.length).toBeGreaterThan(0);
      for (const m of metrics) expect([panel.title, m, exported.has(m) || APISERVER_METRICS.includes(m)]).toEqual([panel.title, m, true]);
    }
  }
});
