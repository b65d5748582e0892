// Debian's docker-registry (distribution v2) on 127.0.0.1 for tests, and pushing images
// to it with the distribution API. Shared by the registry client tests and the webhook's
// registry-path tests. docker-registry comes from the cache scripts/provision-debs.sh fills.
import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { dockerRegistry } from './tools';
import { dockerRegistry } from './tools';
export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

export { freePort } from './ports';
import { freePort } from './ports';

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function httpReq(method: string, url: string, opts: { headers?: Record<string, string>; body?: Buffer; ca?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method, headers: { ...(opts.body ? { 'content-length': String(opts.body.length) } : {}), ...opts.headers }, ...(opts.ca ? { ca: opts.ca } : {}), agent: false, signal: AbortSignal.timeout(10_000) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface Registry {
  name: string;
  port: number;
  host: string; // 127.0.0.1:PORT
  base: string; // http(s)://127.0.0.1:PORT
  proc: ChildProcess;
  logFile: string;
  ca?: string;
}

/** Every registry started, so stopRegistries() can stop them all by PID. */
const children: ChildProcess[] = [];

export async function startRegistry(workDir: string, name: string, extra: { auth?: object; tls?: { certificate: string; key: string; ca: string } } = {}): Promise<Registry> {
  const dir = path.join(workDir, name);
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const config = {
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: randomBytes(16).toString('hex'),
      ...(extra.tls ? { tls: { certificate: extra.tls.certificate, key: extra.tls.key } } : {}),
    },
    health: { storagedriver: { enabled: false } },
    ...(extra.auth ? { auth: extra.auth } : {}),
  };
  // JSON is YAML; the registry reads it as its config file.
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = path.join(dir, 'registry.log');
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(dockerRegistry(), ['serve', configFile], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(proc);
  const scheme = extra.tls ? 'https' : 'http';
  const base = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`docker-registry ${name} exited early:\n${fs.readFileSync(logFile, 'utf8')}`);
    }
    try {
      const res = await httpReq('GET', `${base}/v2/`, extra.tls ? { ca: extra.tls.ca } : {});
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry ${name} did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
    await sleep(50);
  }
  return { name, port, host: `127.0.0.1:${port}`, base, proc, logFile, ...(extra.tls ? { ca: extra.tls.ca } : {}) };
}

export async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  process.kill(proc.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(timer);
}

export async function stopRegistries(): Promise<void> {
  await Promise.all(children.splice(0).map(stopChild));
}

export interface PushTarget {
  base: string;
  headers?: Record<string, string>;
  ca?: string;
}

export async function pushBlob(t: PushTarget, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const opts = t.ca ? { ca: t.ca } : {};
  const start = await httpReq('POST', `${t.base}/v2/${repo}/blobs/uploads/`, { ...opts, headers: { ...t.headers }, body: Buffer.alloc(0) });
  if (start.status !== 202) throw new Error(`blob upload start for ${repo}: HTTP ${start.status} ${start.body}`);
  const location = new URL(String(start.headers.location), t.base);
  location.searchParams.set('digest', digest);
  const put = await httpReq('PUT', location.href, { ...opts, headers: { ...t.headers, 'content-type': 'application/octet-stream' }, body: data });
  if (put.status !== 201) throw new Error(`blob upload for ${repo}: HTTP ${put.status} ${put.body}`);
  return digest;
}

export async function pushManifest(t: PushTarget, repo: string, reference: string, mediaType: string, doc: object): Promise<{ digest: string; size: number }> {
  const body = Buffer.from(JSON.stringify(doc));
  const res = await httpReq('PUT', `${t.base}/v2/${repo}/manifests/${reference}`, {
    ...(t.ca ? { ca: t.ca } : {}),
    headers: { ...t.headers, 'content-type': mediaType },
    body,
  });
  if (res.status !== 201) throw new Error(`manifest PUT ${repo}:${reference}: HTTP ${res.status} ${res.body}`);
  const digest = sha256(body);
  if (res.headers['docker-content-digest'] !== digest) throw new Error(`manifest PUT ${repo}:${reference}: registry computed digest ${res.headers['docker-content-digest']}, expected ${digest}`);
  return { digest, size: body.length };
}

export interface ImageSpec {
  entrypoint?: string[];
  cmd?: string[];
  os?: string;
  architecture?: string;
  variant?: string;
  docker?: boolean; // Docker schema2 media types instead of OCI
  configMediaType?: string;
}

export interface Pushed {
  digest: string;
  size: number;
  mediaType: string;
  platform: { os: string; architecture: string; variant?: string };
}

/** Pushes one single-platform image; tags it when `tag` is given, else pushes it by digest. */
export async function pushImage(t: PushTarget, repo: string, tag: string | undefined, spec: ImageSpec): Promise<Pushed> {
  const tar = Buffer.concat([Buffer.from(`layer of ${repo} ${JSON.stringify(spec)}`), randomBytes(32)]);
  const layer = gzipSync(tar);
  const layerDigest = await pushBlob(t, repo, layer);
  const platform = { os: spec.os ?? 'linux', architecture: spec.architecture ?? 'amd64', ...(spec.variant ? { variant: spec.variant } : {}) };
  const imageConfig = {
    created: '2024-01-01T00:00:00Z',
    ...platform,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      WorkingDir: '/',
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'test' }],
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const configDigest = await pushBlob(t, repo, configBytes);
  const mediaType = spec.docker ? MT.dockerManifest : MT.ociManifest;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: spec.configMediaType ?? (spec.docker ? MT.dockerConfig : MT.ociConfig), digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: spec.docker ? MT.dockerLayer : MT.ociLayer, digest: layerDigest, size: layer.length }],
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const { digest, size } = await pushManifest(t, repo, tag ?? sha256(body), mediaType, manifest);
  return { digest, size, mediaType, platform };
}

export async function pushIndex(t: PushTarget, repo: string, tag: string, docker: boolean, images: Pushed[], extra: object[] = []): Promise<string> {
  const mediaType = docker ? MT.dockerList : MT.ociIndex;
  const doc = {
    schemaVersion: 2,
    mediaType,
    manifests: [...images.map((i) => ({ mediaType: i.mediaType, digest: i.digest, size: i.size, platform: i.platform })), ...extra],
  };
  return (await pushManifest(t, repo, tag, mediaType, doc)).digest;
}
