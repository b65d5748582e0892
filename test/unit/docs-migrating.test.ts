// docs/migrating.md shows one Deployment that uses preStart, warm-up, preOnline, manual
// traffic and post-offline together. The golden corpus injects that very manifest
// (test/golden/migrating-vm-app.yaml); this keeps the doc and the golden input equal, so
// the walkthrough's manifest is one podhooks accepts and injects as its golden output shows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '../..');
const MARKER = '<!-- The block below is test/golden/migrating-vm-app.yaml';

test('the manifest in docs/migrating.md is test/golden/migrating-vm-app.yaml, byte for byte', () => {
  const doc = readFileSync(join(ROOT, 'docs/migrating.md'), 'utf8');
  const at = doc.indexOf(MARKER);
  expect(at).toBeGreaterThan(0);
  const block = /```yaml\n([\s\S]*?)```/.exec(doc.slice(at))![1];
  expect(block).toBe(readFileSync(join(ROOT, 'test/golden/migrating-vm-app.yaml'), 'utf8'));
});

test('it uses every workflow the walkthrough names', () => {
  const manifest = parse(readFileSync(join(ROOT, 'test/golden/migrating-vm-app.yaml'), 'utf8'));
  const annotations = Object.keys(manifest.spec.template.metadata.annotations);
  for (const key of ['pre-start', 'check-url', 'warmup-urls', 'pre-online', 'traffic', 'post-offline', 'drain-delay']) {
    expect(annotations).toContain(`podhooks.io/${key}`);
  }
  expect(manifest.spec.template.metadata.annotations['podhooks.io/traffic']).toBe('manual');
});
