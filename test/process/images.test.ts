// The images cannot be built on these machines, so what the Dockerfiles rely on is
// checked on the host: pinned bases, sources that exist, a numeric non-root user, the
// entrypoint, and the webhook running from a production-only install that writes nothing
// into its own directory (read-only root filesystem).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/podhooks';

jest.setTimeout(180_000);

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

/** Dockerfile instructions by stage (no line continuations are followed across FROM). */
function stages(file: string): Stage[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\\\n/g, ' ');
  const out: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1], name: from[2], lines: [] });
    else out[out.length - 1].lines.push(line);
  }
  return out;
}

/** Context paths of COPY instructions that do not copy from another stage. */
function copySources(stage: Stage): string[] {
  return stage.lines
    .filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l))
    .flatMap((l) => {
      const parts = l.split(/\s+/).slice(1).filter((p) => !p.startsWith('--'));
      return parts.slice(0, -1);
    });
}

for (const file of ['Dockerfile', 'sidecars/Dockerfile']) {
  describe(file, () => {
    const all = stages(file);
    const final = all[all.length - 1];

    test('every base image is pinned by an explicit version tag', () => {
      const stageNames = new Set(all.map((s) => s.name).filter(Boolean));
      for (const s of all) {
        if (stageNames.has(s.from)) continue;
        expect({ image: s.from, pinned: /:[0-9][^:@]*$|:[a-z]+-[0-9]|@sha256:/.test(s.from) || /:(bookworm|trixie)(-slim)?$/.test(s.from) }).toEqual({ image: s.from, pinned: true });
        expect(s.from).not.toMatch(/:latest$/);
      }
    });

    test('every COPY source exists in the build context (the repository root)', () => {
      for (const s of all) for (const src of copySources(s)) expect({ src, exists: existsSync(join(ROOT, src)) }).toEqual({ src, exists: true });
    });

    test('the final stage runs as a numeric non-root user', () => {
      const user = final.lines.filter((l) => /^USER\s/i.test(l)).pop();
      expect(user).toMatch(/^USER\s+[1-9][0-9]*:[1-9][0-9]*$/);
    });
  });
}

test('Dockerfile: multi-stage, production dependencies only, entrypoint `podhooks serve`', () => {
  const [build, runtime] = stages('Dockerfile');
  expect(build.from).toBe(runtime.from);
  expect(runtime.from).toMatch(/^node:24\./); // Node 24 LTS
  expect(build.lines.join('\n')).toMatch(/npm prune --omit=dev/);
  expect(runtime.lines).toContain('COPY --from=build /src/node_modules ./node_modules');
  const workdir = runtime.lines.find((l) => l.startsWith('WORKDIR'))!.split(/\s+/)[1];
  const entry = JSON.parse(runtime.lines.find((l) => l.startsWith('ENTRYPOINT'))!.slice('ENTRYPOINT'.length));
  expect(entry[0]).toBe('node');
  // /app/bin/podhooks.js comes from `COPY bin ./bin`.
  expect(entry[1].startsWith(`${workdir}/`)).toBe(true);
  expect(existsSync(join(ROOT, entry[1].slice(workdir.length + 1)))).toBe(true);
  expect(JSON.parse(runtime.lines.find((l) => l.startsWith('CMD'))!.slice(3))).toEqual(['serve']);
  // The Deployment's args replace CMD and start with the same subcommand.
  expect(readFileSync(join(ROOT, 'deploy/base/deployment.yaml'), 'utf8')).toMatch(/args: \[serve, /);
});

test('sidecars/Dockerfile ships every script the injected containers run', () => {
  const used = new Set<string>();
  for (const f of readdirSync(join(ROOT, 'src/mutate'))) {
    for (const m of readFileSync(join(ROOT, 'src/mutate', f), 'utf8').matchAll(/\$\{POD_BIN\}\/([a-z_]+\.sh)/g)) used.add(m[1]);
  }
  expect(used.size).toBeGreaterThan(1);
  for (const script of used) expect({ script, shipped: existsSync(join(ROOT, 'sidecars/bin', script)) }).toEqual({ script, shipped: true });
  expect(readFileSync(join(ROOT, 'sidecars/Dockerfile'), 'utf8')).toMatch(/COPY --chmod=0755 sidecars\/bin\/ \/opt\/podhooks\/bin\//);
});

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => !p.startsWith('node_modules'))
    .map((p) => `${p}:${statSync(join(dir, p)).mtimeMs}`)
    .sort();
}

test('a production-only install (what the runtime stage holds) runs podhooks and writes nothing into /app', async () => {
  const app = mkdtempSync(join(tmpdir(), 'podhooks-image-'));
  const work = mkdtempSync(join(tmpdir(), 'podhooks-image-run-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(app, f));
    const ci = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8' });
    expect({ code: ci.status, stderr: ci.status === 0 ? '' : ci.stderr }).toEqual({ code: 0, stderr: '' });
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true });
    // Development tools are not in the image.
    for (const dev of ['typescript', 'jest', 'ts-jest', 'fast-check']) expect(existsSync(join(app, 'node_modules', dev))).toBe(false);

    const env = { ...process.env, NODE_ENV: 'production', KUBECONFIG: '', HOME: work };
    const help = spawnSync(process.execPath, [join(app, 'bin/podhooks.js'), '--help'], { encoding: 'utf8', env, cwd: work });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/serve/);

    // Certificates come from a mounted directory, as in deploy/base; nothing else is written.
    const certDir = join(work, 'certs');
    const certs = spawnSync(process.execPath, [join(app, 'bin/podhooks.js'), 'certs', '--out-dir', certDir], { encoding: 'utf8', env, cwd: work });
    expect(certs.status).toBe(0);
    writeFileSync(join(work, 'config.yaml'), `server: {address: 127.0.0.1, port: 0, metricsAddress: 127.0.0.1, metricsPort: 0, certDir: ${certDir}}\nkubernetes: {enabled: "false"}\n`);
    const before = listTree(app);
    const proc = spawn(process.execPath, [join(app, 'bin/podhooks.js'), 'serve', '--config', join(work, 'config.yaml')], { env, cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const serving = await new Promise<boolean>((resolve) => {
      proc.stdout!.on('data', (c) => {
        out += c;
        if (out.includes('"podhooks serving"')) resolve(true);
      });
      proc.once('exit', () => resolve(false));
    });
    const exited = new Promise<number | null>((r) => (proc.exitCode !== null ? r(proc.exitCode) : proc.once('exit', (code) => r(code))));
    proc.kill('SIGTERM');
    expect({ serving, out: serving ? '' : out }).toEqual({ serving: true, out: '' });
    expect(await exited).toBe(0);
    expect(listTree(app)).toEqual(before);
  } finally {
    rmSync(app, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});
