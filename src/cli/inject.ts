// `podhooks inject`: offline injection like `istioctl kube-inject`, the webhook's own code.
// -o yaml|json chooses the rendering; --diff prints a unified diff of what injection changes.
import { Command, Option } from 'commander';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { loadConfig } from '../config';
import { InjectionFailed, injectDocuments } from '../mutate/manifests';
import { parseDocuments, toYaml } from '../workloads';
import { ExitError } from './exit';
import { readInput } from './input';

type Obj = Record<string, any>;

/** kubectl's shapes: one object as itself, several as a v1 List. */
function render(docs: Obj[], output: string): string {
  if (output === 'yaml') return toYaml(docs);
  const value = docs.length === 1 ? docs[0] : { apiVersion: 'v1', kind: 'List', items: docs };
  return JSON.stringify(value, null, 2) + '\n';
}

export function injectCommand(opts: { file: string; nativeSidecars: string; output: string; diff?: boolean; config?: string }): string {
  const config = loadConfig(opts.config);
  const { text, source } = readInput(opts.file);
  const native = opts.nativeSidecars === 'auto' ? undefined : opts.nativeSidecars === 'true';
  const docs = parseDocuments(text, source);
  // Rendered before injection changes the documents in place, so the diff shows only what
  // podhooks changes, not the input's formatting.
  const before = opts.diff ? render(docs, opts.output) : '';
  try {
    injectDocuments(docs, source, config, native, (w) => process.stderr.write(`warning: ${w}\n`));
  } catch (err) {
    if (err instanceof InjectionFailed) throw new ExitError(err.message, 2);
    throw err;
  }
  const after = render(docs, opts.output);
  if (!opts.diff) return after;
  if (before === after) return '';
  return createTwoFilesPatch(source, source, before, after, 'original', 'injected', { context: 3, headerOptions: FILE_HEADERS_ONLY });
}

export function registerInjectCommand(program: Command): void {
  program
    .command('inject')
    .description('inject offline, like the webhook would (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List; YAML or JSON, multi-document)')
    .option('-c, --config <file>', 'podhooks config file (YAML); built-in defaults when omitted')
    .requiredOption('-f, --file <file>', 'input file, or - for stdin')
    .addOption(new Option('-o, --output <format>', 'output format; several objects in JSON become a v1 List').choices(['yaml', 'json']).default('yaml'))
    .option('--diff', 'print a unified diff of what injection changes (nothing when it changes nothing) instead of the result')
    .addOption(new Option('--native-sidecars <mode>', 'sidecar style; auto follows injection.nativeSidecars (offline: native)').choices(['auto', 'true', 'false']).default('auto'))
    .action((opts) => {
      process.stdout.write(injectCommand(opts));
    });
}
