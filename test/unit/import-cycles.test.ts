// src/ has no import cycles, type-only imports included (as `npx madge --circular` counts
// them): in a cycle, load order decides which module sees the other half-initialised, and
// the tree stops showing which module is the leaf. The config is the usual suspect: the
// validating rules import its types, so its schema must not import the rules (config/).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';

const SRC = join(__dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every module of src/ that `file` imports: static, type-only, dynamic import() and require(). */
function importsOf(file: string): string[] {
  const options: ts.CompilerOptions = { moduleResolution: ts.ModuleResolutionKind.Node10, resolveJsonModule: true };
  return ts
    .preProcessFile(readFileSync(file, 'utf8'), true, true)
    .importedFiles.map((i) => ts.resolveModuleName(i.fileName, file, options, ts.sys).resolvedModule?.resolvedFileName)
    .filter((p): p is string => !!p && p.startsWith(SRC + '/') && p.endsWith('.ts') && !p.endsWith('.d.ts'));
}

const graph = new Map(sourceFiles(SRC).map((f) => [f, importsOf(f)]));
const name = (f: string) => relative(SRC, f);

/** One cycle per strongly connected component with more than one module (or a self-import). */
function cycles(): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    path.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...path.slice(path.indexOf(g)), g].map(name).join(' > '));
      else if (!state.has(g)) visit(g);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

test('the import graph is read (resolution works, so an empty cycle list means something)', () => {
  expect(graph.size).toBeGreaterThan(50);
  expect(graph.get(join(SRC, 'config/load.ts'))?.map(name)).toEqual(expect.arrayContaining(['validate/rules/index.ts', 'config/schema.ts']));
  expect(graph.get(join(SRC, 'validate/rule.ts'))?.map(name)).toContain('config/schema.ts');
});

test('src/ has no import cycles', () => {
  expect(cycles()).toEqual([]);
});
