// Reading a config: YAML from a file, parsed with the schema plus the checks that need the
// validating rules (their ids, the runtime-class matcher). Those live here, not in
// schema.ts, because the rules import the Config type: schema.ts stays a leaf.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RULES } from '../validate/rules';
import { matchesRuntimeClass } from '../validate/runtime-class';
import { configSchema, ConfigError, type Config } from './schema';

const validation = configSchema.shape.validation.unwrap();

/** configSchema with the cross-checks, at the same places so errors keep their paths. */
const checkedConfigSchema = configSchema.extend({
  validation: validation
    .extend({
      // A misspelt rule id would otherwise silently do nothing.
      rules: validation.shape.rules.check((ctx) => {
        const known = RULES.map((r) => r.id);
        for (const id of Object.keys(ctx.value)) {
          if (!known.includes(id)) ctx.issues.push({ code: 'custom', input: ctx.value[id], path: [id], message: `unknown rule id; known rules are ${known.join(', ')}` });
        }
      }),
    })
    // One matcher decides "sandboxed" for every rule: an offline pod told to use a class
    // that the sandbox list does not match would be refused whatever it does.
    .check((ctx) => {
      const { placement, sandboxRuntimeClasses } = ctx.value;
      if (placement.enabled && !matchesRuntimeClass(placement.sandboxRuntimeClass, sandboxRuntimeClasses)) {
        ctx.issues.push({
          code: 'custom',
          input: placement.sandboxRuntimeClass,
          path: ['placement', 'sandboxRuntimeClass'],
          message: `is not matched by validation.sandboxRuntimeClasses (${sandboxRuntimeClasses.join(', ')}); add it there or choose a class they match`,
        });
      }
    })
    .prefault({}),
});

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.length ? issue.path.join('.') : '(top level)';
  let value: unknown = input;
  for (const key of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  if (issue.code === 'unrecognized_keys') {
    return `${path}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; check the spelling against the README's configuration reference`;
  }
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  return `${path}: ${issue.message}${shown}`;
}

export function parseConfig(input: unknown, source = 'config'): Config {
  const result = checkedConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${describeIssue(i, input)}`);
    throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
  }
  return result.data;
}

export function loadConfig(path?: string): Config {
  if (!path) return parseConfig({}, 'built-in defaults');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(doc, `config file ${path}`);
}
