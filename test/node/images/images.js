// The node tier's container images, built without a container engine: each image is one
// layer of files taken from the repo, the provisioned Debian packages, programs built
// here (Go, javac, jlink) and the shared libraries `ldd` names for them, written as a
// docker archive (docker save format) that `ctr images import` loads into containerd.
// Every input is hashed, so an image is rebuilt only when one of its files changes.
// Plain CommonJS: scripts/provision-images.js and the TypeScript harness both use it.
'use strict';
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const tools = require('../../helpers/tools');

const REPO = path.resolve(__dirname, '../../..');
const OUT = path.join(tools.CACHE, 'images');
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Image references the tests use. `tools` must equal config's default injection.toolsImage. */
const IMAGES = {
  tools: 'ghcr.io/podhooks/tools:0.1.0',
  pause: 'registry.k8s.io/pause:3.10',
  static: 'podhooks.test/static-app:1',
  debian: 'podhooks.test/debian-app:1',
  java: 'podhooks.test/java-app:1',
};
/** The webhook image (the repo's Dockerfile): config's and the Helm chart's default reference. */
const WEBHOOK_IMAGE = 'ghcr.io/podhooks/podhooks:0.1.0';
/** /app/marker in the Debian-like image. */
const MARKER = 'marker from the podhooks.test/debian-app image\n';
const GRPC_HEALTH_PROBE = 'github.com/grpc-ecosystem/grpc-health-probe@v0.4.61';

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const log = (msg) => process.stderr.write(`provision-images: ${msg}\n`);

function hashFiles(paths) {
  const h = crypto.createHash('sha256');
  for (const p of paths) h.update(p).update(fs.readFileSync(p));
  return h.digest('hex').slice(0, 16);
}

/** Runs `fn(tmpDir)` to produce `dest` unless it exists; atomic, so an interrupted build leaves nothing. */
function cached(dest, what, fn) {
  if (fs.existsSync(dest)) return dest;
  const started = Date.now();
  const tmp = `${dest}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fn(tmp);
  fs.renameSync(tmp, dest);
  log(`built ${what} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return dest;
}

const goEnv = () => ({ ...process.env, CGO_ENABLED: '0', GOFLAGS: '', GOWORK: 'off', GOTOOLCHAIN: 'local' });

/** A static Go program from a directory of this repo (the same flags as sidecars/Dockerfile). */
function goBuild(name, dir) {
  const srcs = fs.readdirSync(dir).filter((f) => /\.(go|mod|sum)$/.test(f)).map((f) => path.join(dir, f));
  const mod = path.join(dir, 'go.mod');
  if (!fs.existsSync(mod)) srcs.push(path.join(path.dirname(dir), 'go.mod'));
  return cached(path.join(OUT, 'bin', `${name}-${hashFiles(srcs)}`), name, (tmp) => {
    execFileSync('go', ['build', '-trimpath', '-ldflags=-s', '-o', tmp, '.'], { cwd: dir, env: goEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
  });
}

/** grpc_health_probe from the Go module proxy, as the Dockerfile's grpc-probe stage installs it. */
function grpcHealthProbe() {
  return cached(path.join(OUT, 'bin', `grpc-health-probe-${GRPC_HEALTH_PROBE.split('@')[1]}`), 'grpc_health_probe', (tmp) => {
    fs.mkdirSync(tmp);
    execFileSync('go', ['install', '-trimpath', '-ldflags=-s', GRPC_HEALTH_PROBE], { env: { ...goEnv(), GOBIN: tmp }, stdio: ['ignore', 'inherit', 'inherit'] });
  });
}

/** The Java app compiled, and a JRE jlinked from the machine's JDK with only what it needs. */
function javaApp() {
  const src = path.join(__dirname, 'java', 'App.java');
  const jdk = fs.realpathSync(execFileSync('sh', ['-c', 'command -v jlink'], { encoding: 'utf8' }).trim());
  const version = execFileSync('javac', ['-version'], { encoding: 'utf8' }).trim();
  const key = sha256(`${version} ${jdk} ${fs.readFileSync(src)}`).slice(0, 16);
  return cached(path.join(OUT, 'java', key), 'the jlinked JRE and App.class', (tmp) => {
    fs.mkdirSync(tmp, { recursive: true });
    execFileSync('javac', ['--release', '17', '-d', path.join(tmp, 'app'), src], { stdio: 'inherit' });
    execFileSync('jlink', ['--add-modules', 'java.base,jdk.httpserver,jdk.jdwp.agent', '--strip-debug', '--no-man-pages', '--no-header-files', '--compress=2', '--output', path.join(tmp, 'jre')], { stdio: 'inherit' });
  });
}

/**
 * The shared libraries (and the dynamic loader) `ldd` lists for `binaries`, as
 * [imagePath, hostPath]. Libraries from the provisioned Debian packages keep their
 * Debian path; libraries under `skipUnder` (already in the image) are left out.
 */
function sharedLibraries(binaries, { env = tools.toolEnv(), skipUnder } = {}) {
  const found = new Map();
  for (const bin of binaries) {
    let out;
    try {
      out = execFileSync('ldd', [bin], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      if (/not a dynamic executable/.test(String(err.stdout) + String(err.stderr))) continue;
      throw err;
    }
    for (const line of out.split('\n')) {
      if (/not found/.test(line)) throw new Error(`ldd ${bin}: ${line.trim()}`);
      const m = line.match(/(?:=>\s*)?(\/\S+)\s+\(0x/);
      if (!m || (skipUnder && m[1].startsWith(skipUnder))) continue;
      const host = m[1];
      const inImage = host.startsWith(tools.DEBS_ROOT) ? host.slice(tools.DEBS_ROOT.length) : host;
      found.set(inImage, host);
    }
  }
  return [...found];
}

/** Copies a file or directory tree into the root at `dest`, following symlinks (images get real files). */
function put(root, dest, src, mode) {
  const target = path.join(root, dest);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.cpSync(src, target, { recursive: true, dereference: true });
  if (mode !== undefined) fs.chmodSync(target, mode);
}

function write(root, dest, content, mode = 0o644) {
  const target = path.join(root, dest);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, content, { mode });
  fs.chmodSync(target, mode);
}

function tmpDir(root, dest = 'tmp') {
  fs.mkdirSync(path.join(root, dest), { recursive: true });
  fs.chmodSync(path.join(root, dest), 0o1777);
}

const passwd = (users) => users.map(([name, uid, home, shell]) => `${name}:x:${uid}:${uid}:${name}:${home}:${shell}`).join('\n') + '\n';
const group = (users) => users.map(([name, uid]) => `${name}:x:${uid}:`).join('\n') + '\n';

/**
 * What each image holds: `files` lists [imagePath, hostPath, mode?]; `extra(root)` writes
 * the rest. Everything a recipe reads is in `files` (or hashed into `key`), so the hash of
 * those inputs names the archive.
 */
function recipes() {
  const app = goBuild('app', path.join(__dirname, 'app'));
  return {
    // sidecars/Dockerfile without a container engine: the same /opt/podhooks/bin (scripts,
    // busybox, grpc_health_probe, podhooks-authz), busybox and socat where Debian's
    // packages put them, user 65532, the same ENTRYPOINT. Of debian:bookworm-slim only
    // what socat needs (its shared libraries) is taken.
    tools: () => {
      const socat = tools.socat();
      const scripts = fs.readdirSync(path.join(REPO, 'sidecars/bin')).sort();
      return {
        files: [
          ['/bin/busybox', tools.busybox(), 0o755],
          ['/usr/bin/socat', socat, 0o755],
          ...sharedLibraries([socat]),
          ...scripts.map((f) => [`/opt/podhooks/bin/${f}`, path.join(REPO, 'sidecars/bin', f), 0o755]),
          ['/opt/podhooks/bin/busybox', tools.busybox(), 0o755],
          ['/opt/podhooks/bin/grpc_health_probe', path.join(grpcHealthProbe(), 'grpc-health-probe'), 0o755],
          ['/opt/podhooks/bin/podhooks-authz', goBuild('podhooks-authz', path.join(REPO, 'sidecars/authz-client')), 0o755],
        ],
        extra: (root) => tmpDir(root),
        config: { User: '65532:65532', Env: [PATH_ENV], Entrypoint: ['/opt/podhooks/bin/busybox', 'sh'] },
      };
    },
    pause: () => ({
      files: [['/pause', goBuild('pause', path.join(__dirname, 'pause')), 0o755]],
      config: { User: '65535:65535', Env: [PATH_ENV], Entrypoint: ['/pause'] },
    }),
    // Like a distroless/scratch image: one static binary, no libc, no NSS, no shell.
    static: () => ({
      files: [['/app', app, 0o755]],
      config: { User: '65532:65532', Env: [PATH_ENV], Entrypoint: ['/app'], Cmd: ['serve'] },
    }),
    // Like debian:bookworm-slim with an app on top: dash as /bin/sh, some coreutils, glibc.
    debian: () => {
      const bins = ['/bin/dash', '/bin/cat', '/bin/ls', '/bin/sleep', '/bin/mkdir', '/bin/touch', '/bin/rm', '/usr/bin/env', '/usr/bin/id', '/bin/uname'];
      const users = [['root', 0, '/root', '/bin/sh'], ['app', 1000, '/home/app', '/bin/sh'], ['nobody', 65534, '/nonexistent', '/usr/sbin/nologin']];
      return {
        files: [
          ...bins.map((b) => [b, b, 0o755]),
          ...sharedLibraries(bins),
          ['/etc/os-release', '/etc/os-release'],
          ['/usr/local/bin/app', app, 0o755],
        ],
        key: passwd(users) + MARKER,
        extra: (root) => {
          fs.symlinkSync('dash', path.join(root, 'bin/sh')); // as Debian has it
          write(root, '/etc/passwd', passwd(users));
          write(root, '/etc/group', group(users));
          tmpDir(root);
          fs.mkdirSync(path.join(root, 'home/app'), { recursive: true });
          // A file of the app's own, for hooks that must see the app's image (preOnline).
          write(root, '/app/marker', MARKER);
        },
        config: { Env: [PATH_ENV], Entrypoint: ['/usr/local/bin/app'], Cmd: ['serve'] },
      };
    },
    java: () => {
      const built = javaApp();
      const jre = path.join(built, 'jre');
      const natives = [path.join(jre, 'bin/java'), ...walk(jre).filter((f) => f.endsWith('.so'))];
      const libEnv = { ...process.env, LD_LIBRARY_PATH: [path.join(jre, 'lib'), path.join(jre, 'lib/server')].join(':') };
      return {
        files: [
          ...walk(jre).map((f) => [`/opt/java/${path.relative(jre, f)}`, f, fs.statSync(f).mode & 0o777]),
          ...sharedLibraries(natives, { env: libEnv, skipUnder: jre }),
          ['/app/App.class', path.join(built, 'app/App.class')],
        ],
        extra: (root) => tmpDir(root),
        config: { Env: ['PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'JAVA_HOME=/opt/java'], Entrypoint: ['/opt/java/bin/java', '-cp', '/app', 'App'] },
      };
    },
  };
}

/**
 * Node 24, the webhook image's runtime (node:24-bookworm-slim in the Dockerfile): the
 * binary of the npm registry's `node` package, cached where .ci/run keeps it.
 */
function node24() {
  const dir = path.join(tools.CACHE, 'node24');
  const bin = path.join(dir, 'node_modules', 'node', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    log('installing Node 24 (npm package node@24) into ' + dir);
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', 'node@24'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return fs.realpathSync(bin);
}

/** The production dependencies (the Dockerfile's `npm ci` then `npm prune --omit=dev`), cached per package-lock.json. */
function productionDependencies() {
  const lock = fs.readFileSync(path.join(REPO, 'package-lock.json'));
  return cached(path.join(OUT, 'webhook-deps', sha256(lock).slice(0, 16)), 'the production node_modules', (tmp) => {
    fs.mkdirSync(tmp, { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(REPO, f), path.join(tmp, f));
    // --ignore-scripts: `prepare` would build; the build is dist/, taken from this checkout.
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
  });
}

/**
 * The repo's Dockerfile without a container engine: Node 24 at /usr/local/bin/node (with
 * the libraries ldd names, as node:24-bookworm-slim has them), and in /app the production
 * node_modules, dist/ (this checkout's build), bin/, package.json and
 * deploy/base/webhooks.yaml; user 65532, NODE_ENV=production, the same ENTRYPOINT and CMD.
 */
function webhookRecipe() {
  const dist = path.join(REPO, 'dist');
  if (!fs.existsSync(path.join(dist, 'cli', 'main.js'))) throw new Error(`${dist}/cli/main.js is missing: run npm run build first (the webhook image holds the build)`);
  const node = node24();
  return {
    files: [
      ['/usr/local/bin/node', node, 0o755],
      ...sharedLibraries([node]),
      ['/app/node_modules', path.join(productionDependencies(), 'node_modules')],
      ['/app/dist', dist],
      ['/app/package.json', path.join(REPO, 'package.json')],
      ['/app/bin', path.join(REPO, 'bin')],
      ['/app/deploy/base/webhooks.yaml', path.join(REPO, 'deploy/base/webhooks.yaml')],
    ],
    extra: (root) => tmpDir(root),
    config: {
      User: '65532:65532',
      Env: [PATH_ENV, 'NODE_ENV=production'],
      WorkingDir: '/app',
      ExposedPorts: { '8443/tcp': {}, '9090/tcp': {} },
      Entrypoint: ['node', '/app/bin/podhooks.js'],
      Cmd: ['serve'],
    },
  };
}

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  }).sort();
}

/** One-layer docker archive in `dir` (manifest.json, config, layer.tar) and as `dir.tar`. */
function writeArchive(dir, ref, recipe) {
  const root = path.join(dir, 'rootfs');
  fs.mkdirSync(root, { recursive: true });
  for (const [inImage, host, mode] of recipe.files) put(root, inImage, host, mode);
  recipe.extra?.(root);
  // Reproducible: sorted names, root-owned, one fixed mtime.
  const layerTar = path.join(dir, 'layer.tar');
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', root, '-cf', layerTar, ...fs.readdirSync(root).sort()]);
  fs.rmSync(root, { recursive: true });
  const layer = fs.readFileSync(layerTar);
  const diffId = `sha256:${sha256(layer)}`;
  const layerDir = sha256(layer);
  fs.mkdirSync(path.join(dir, layerDir));
  fs.renameSync(layerTar, path.join(dir, layerDir, 'layer.tar'));
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: { WorkingDir: '/', ...recipe.config },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'podhooks test/node/images/images.js' }],
  }));
  const configName = `${sha256(config)}.json`;
  fs.writeFileSync(path.join(dir, configName), config);
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [ref], Layers: [`${layerDir}/layer.tar`] }]));
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', dir, '-cf', `${dir}.tar`, 'manifest.json', configName, layerDir]);
}

/**
 * Builds every image that is not cached yet and returns, per image, its reference and the
 * paths of its archive (`tar`, for ctr import) and unpacked archive (`dir`, to push to a registry).
 */
function provisionImages() {
  const result = {};
  for (const [name, make] of Object.entries(recipes())) result[name] = buildImage(name, IMAGES[name], make());
  return result;
}

/** The archive of one image, built unless one with the same inputs is cached. */
function buildImage(name, ref, recipe) {
  const h = crypto.createHash('sha256').update(JSON.stringify({ ref, config: recipe.config, key: recipe.key ?? '' }));
  for (const [inImage, host, mode] of recipe.files) {
    h.update(`${inImage} ${mode ?? ''}\n`);
    for (const f of fs.statSync(host).isDirectory() ? walk(host) : [host]) h.update(f.slice(host.length)).update(fs.readFileSync(f));
  }
  const dir = path.join(OUT, `${name}-${h.digest('hex').slice(0, 16)}`);
  cached(`${dir}.tar`, `image ${ref}`, (tmp) => {
    fs.rmSync(dir, { recursive: true, force: true });
    writeArchive(dir, ref, recipe);
    fs.renameSync(`${dir}.tar`, tmp);
  });
  return { ref, tar: `${dir}.tar`, dir };
}

/** The webhook image, for the tests that install podhooks into the cluster (helm.test.ts); not imported at every node start. */
function webhookImage() {
  const image = buildImage('webhook', WEBHOOK_IMAGE, webhookRecipe());
  // Its inputs change with every build of dist/: keep only this archive (about 220 MiB),
  // not the unpacked copy (nothing pushes it to a registry) nor earlier builds.
  fs.rmSync(image.dir, { recursive: true, force: true });
  for (const f of fs.readdirSync(OUT)) {
    if (/^webhook-[0-9a-f]{16}(\.tar)?$/.test(f) && path.join(OUT, f) !== image.tar) fs.rmSync(path.join(OUT, f), { recursive: true, force: true });
  }
  return { ref: image.ref, tar: image.tar };
}

/** scripts/provision-images.js */
function main() {
  const started = Date.now();
  const images = { ...provisionImages(), webhook: webhookImage() };
  for (const { ref, tar } of Object.values(images)) log(`${ref}: ${tar} (${(fs.statSync(tar).size / 1048576).toFixed(1)} MiB)`);
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

module.exports = { IMAGES, MARKER, OUT, WEBHOOK_IMAGE, provisionImages, sharedLibraries, webhookImage, main };
