// Golden files, as in Istio's injector testdata: `<case>.yaml` goes in, the expected
// output is `<case>.injected.yaml` (or `<case>.error.txt` when injection must refuse).
// An optional `<case>.config.yaml` is the podhooks config for that case; the warnings an
// injection gives (as the webhook would answer them) are in `<case>.warnings.txt`.
// Regenerate with: PODHOOKS_UPDATE_GOLDEN=1 npx jest --selectProjects golden
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { InjectionFailed, injectManifests } from '../../src/mutate/manifests';

const DIR = __dirname;
const UPDATE = process.env.PODHOOKS_UPDATE_GOLDEN === '1';
const SUFFIXES = ['.injected.yaml', '.config.yaml', '.error.txt', '.warnings.txt'];
const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && !SUFFIXES.some((s) => f.endsWith(s)))
  .map((f) => f.slice(0, -'.yaml'.length))
  .sort();

function run(name: string, text: string): { output?: string; error?: string; warnings: string } {
  const configPath = join(DIR, `${name}.config.yaml`);
  const config = loadConfig(existsSync(configPath) ? configPath : undefined);
  let warnings = '';
  try {
    return { output: injectManifests(text, `${name}.yaml`, config, undefined, (w) => (warnings += `${w}\n`)), warnings };
  } catch (err) {
    if (err instanceof InjectionFailed) return { error: err.message + '\n', warnings };
    throw err;
  }
}

function expectGolden(file: string, actual: string, stale: string): void {
  const path = join(DIR, file);
  if (UPDATE) {
    writeFileSync(path, actual);
    if (existsSync(join(DIR, stale))) unlinkSync(join(DIR, stale));
    return;
  }
  if (!existsSync(path)) throw new Error(`${file} is missing: run PODHOOKS_UPDATE_GOLDEN=1 npx jest --selectProjects golden and review the diff`);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

test('the golden corpus is not empty', () => {
  expect(cases.length).toBeGreaterThan(5);
});

describe.each(cases)('%s', (name) => {
  const input = readFileSync(join(DIR, `${name}.yaml`), 'utf8');
  const result = run(name, input);

  test('matches the golden output', () => {
    if (result.error !== undefined) expectGolden(`${name}.error.txt`, result.error, `${name}.injected.yaml`);
    else expectGolden(`${name}.injected.yaml`, result.output!, `${name}.error.txt`);
  });

  test('warnings match (none: no file)', () => {
    const path = join(DIR, `${name}.warnings.txt`);
    if (UPDATE) {
      if (result.warnings) writeFileSync(path, result.warnings);
      else if (existsSync(path)) unlinkSync(path);
      return;
    }
    expect(result.warnings).toBe(existsSync(path) ? readFileSync(path, 'utf8') : '');
  });

  if (result.output !== undefined) {
    test('injecting the output again changes nothing, without a warning', () => {
      const again = run(name, result.output!);
      expect(again).toEqual({ output: result.output, warnings: '' });
    });
  }
});
