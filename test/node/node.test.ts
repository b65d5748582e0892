// The node itself, before any hook: the images built without a container engine start
// on containerd under PSS "restricted", get pod IPs on the bridge, and the host reaches them.
import { parseConfig } from '../../src/config';
import { RESTRICTED, startCluster, isReady, type Cluster } from './harness/cluster';
import { startNode } from './harness/node';
import { IMAGES } from './images/images';

jest.setTimeout(300_000);

let c: Cluster;

beforeAll(async () => {
  c = await startCluster();
  await c.namespace('plain');
});

afterAll(async () => {
  await c?.stop();
});

test("the tools image is the name podhooks' default config injects", () => {
  expect(IMAGES.tools).toBe(parseConfig({}).injection.toolsImage);
});

test('pods of the static, Debian-like and JVM images run and answer on their pod IPs', async () => {
  const images = { static: c.node.images.static.ref, debian: c.node.images.debian.ref, java: c.node.images.java.ref };
  for (const [name, image] of Object.entries(images)) {
    await c.core.createNamespacedPod({
      namespace: 'plain',
      body: {
        metadata: { name },
        spec: {
          containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: name === 'java' ? '/health' : '/healthz', port: 8080 }, periodSeconds: 1 }, securityContext: RESTRICTED }],
        },
      },
    });
  }
  for (const name of Object.keys(images)) {
    const pod = await c.node.waitForPod('plain', name, isReady, 'Ready');
    const res = await fetch(`http://${pod.status!.podIP}:8080/${name === 'java' ? 'health' : 'healthz'}`);
    expect([name, res.status, pod.spec!.nodeName]).toEqual([name, 200, c.node.name]);
  }
});

test('a second node on this machine is refused, naming the running one and how to remove it', async () => {
  await expect(startNode(c.cp)).rejects.toThrow(/a node from an earlier run is still on this machine \(\d+ processes in cgroup podhooks-node .*bridge podhooks0.*\)\. Only one node can run per machine: .*npm run node:cleanup/);
  // The running node is untouched.
  expect(isReady(await c.core.readNamespacedPod({ name: 'static', namespace: 'plain' }))).toBe(true);
});
