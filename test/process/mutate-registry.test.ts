// The registry path end to end: a container with no command, podhooks serve asking a
// real docker-registry for the image's ENTRYPOINT/CMD, the answer wrapped by preStart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch } from 'fast-json-patch';
import { pushImage, startRegistry, stopRegistries, type Registry } from '../helpers/registry';
import { post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(30_000);
const WRAPPER = ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--'];
let dir: string;
let registry: Registry;
let ph: Podhooks;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'podhooks-mutate-registry-'));
  registry = await startRegistry(dir, 'open');
  await pushImage({ base: registry.base }, 'shop/nginx', '1.27', { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] });
  ph = await startPodhooks({ registry: { insecureRegistries: [registry.host], allowedRegistries: [registry.host] } });
});
afterAll(async () => {
  await ph?.stop();
  await stopRegistries();
  rmSync(dir, { recursive: true, force: true });
});

function pod(image: string, args?: string[]) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo render config' } },
    spec: { containers: [{ name: 'nginx', image, ...(args ? { args } : {}) }] },
  };
}

async function mutated(object: ReturnType<typeof pod>) {
  const answer = (await post(ph, '/mutate', JSON.stringify(review(object)))).json().response;
  if (!answer.allowed) return { denied: answer.status.message as string };
  const patch = JSON.parse(Buffer.from(answer.patch, 'base64').toString());
  return { pod: applyPatch(structuredClone(object), patch).newDocument as any };
}

test('no command and no args: the wrapper runs the image ENTRYPOINT + CMD', async () => {
  const { pod: out } = await mutated(pod(`${registry.host}/shop/nginx:1.27`));
  expect(out.spec.containers[0].command).toEqual([...WRAPPER, '/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
  expect(out.spec.containers[0].args).toBeUndefined();
});

test('args only: the wrapper runs the ENTRYPOINT and the spec args still replace CMD', async () => {
  const { pod: out } = await mutated(pod(`${registry.host}/shop/nginx:1.27`, ['nginx', '-T']));
  expect(out.spec.containers[0].command).toEqual([...WRAPPER, '/docker-entrypoint.sh']);
  expect(out.spec.containers[0].args).toEqual(['nginx', '-T']);
});

test('an image the registry does not have is denied with what failed and how to fix it', async () => {
  const { denied } = await mutated(pod(`${registry.host}/shop/nginx:9.9`));
  expect(denied).toContain('container nginx:');
  expect(denied).toContain(`${registry.host}/shop/nginx:9.9`);
  expect(denied).toContain('set annotation podhooks.io/entrypoint.nginx or add command to the container');
});
