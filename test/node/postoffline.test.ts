// post-offline on a real node (docs/post-offline.md): `kubectl delete` of a pod runs, in
// order, the drain (its endpoint leaves the Service first), the post-offline hook in the
// app's container (an image without a shell: podhooks' busybox runs it), the container's
// own preStop, then the app's SIGTERM; with native sidecars and with classic ones (the
// kubelet runs the log streamer's preStop together with the app's in both modes, and it
// waits for the run's end, so `kubectl logs -f` shows every line of it). A hook
// past its timeout is stopped, the user's preStop and SIGTERM still follow, and the
// kubelet records the failed preStop (its Event says only "PreStopHook failed"; podhooks'
// reason is in the kubelet's log and the hook log). The order is what the pod's
// processes report: the hook, the preStop command and the app each POST to a server on
// the bridge address and wait for its answer, so arrival order is execution order.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiscoveryV1Api, type V1EndpointConditions, type V1Pod } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { isReady, RESTRICTED, startCluster, type Cluster } from './harness/cluster';
import { startHostServer, type HostServer } from './harness/host-server';

jest.setTimeout(300_000);

const NS = 'stop';
const DRAIN_SECONDS = 2;
const TIMEOUT_SECONDS = 3;

describe.each([
  ['native sidecars', 'auto', true],
  ['classic sidecars (nativeSidecars "false")', 'false', false],
] as const)('with %s', (_label, nativeSidecars, native) => {
  let c: Cluster;
  let host: HostServer;
  const followers: ChildProcess[] = [];

  beforeAll(async () => {
    c = await startCluster({ injection: { nativeSidecars } });
    host = await startHostServer();
    await c.namespace(NS);
  });

  afterAll(async () => {
    for (const f of followers) f.kill();
    await host?.stop();
    await c?.stop();
  });

  function pod(name: string, hook: string): V1Pod {
    return {
      metadata: { name, labels: { app: name }, annotations: {
        'podhooks.io/post-offline': hook,
        'podhooks.io/drain-delay': `${DRAIN_SECONDS}s`,
        'podhooks.io/post-offline-timeout': `${TIMEOUT_SECONDS}s`,
      } },
      spec: {
        terminationGracePeriodSeconds: 15,
        containers: [{
          name: 'app',
          image: c.node.images.static.ref,
          command: ['/app', 'serve'],
          env: [{ name: 'NOTIFY_URL', value: `${host.url}/events` }],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
          // The user's own preStop: a command of the image (it has no shell).
          lifecycle: { preStop: { exec: { command: ['/app', 'notify', 'user-prestop'] } } },
          securityContext: RESTRICTED,
        }],
      },
    };
  }

  const post = (name: string, event: string) => `wget -q -O /dev/null --post-data "event=${event}&pod=${name}" ${host.url}/events`;

  /** The pod's endpoint conditions in its Service's EndpointSlices (undefined: not listed). */
  async function endpoint(name: string): Promise<V1EndpointConditions | undefined> {
    const slices = await c.cp.kubeConfig().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: `kubernetes.io/service-name=${name}` });
    const ep = slices.items.flatMap((s) => s.endpoints ?? []).find((e) => e.targetRef?.name === name);
    return ep && (ep.conditions ?? {});
  }
  const endpointReady = async (name: string) => (await endpoint(name))?.ready;

  /** Creates the pod and its Service, waits until it takes traffic, follows its hook log. */
  async function serving(name: string, hook: string): Promise<{ streamed: () => string }> {
    await c.core.createNamespacedService({ namespace: NS, body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 'http' }] } } });
    const created = await c.core.createNamespacedPod({ namespace: NS, body: pod(name, hook) });
    const streamer = [...created.spec!.containers, ...(created.spec!.initContainers ?? [])].find((x) => x.name === 'podhooks-logs')!;
    expect(streamer.restartPolicy).toBe(native ? 'Always' : undefined);
    // The kubelet runs its preStop with the app's in both modes: it waits for the run (drain + timeout + 10 s at most).
    expect(streamer.lifecycle!.preStop!.exec!.command!.slice(-3)).toEqual(['await', '--within', String(DRAIN_SECONDS + TIMEOUT_SECONDS + 10)]);
    await c.node.waitForPod(NS, name, isReady, 'Ready');
    await eventually('the endpoint to be ready', async () => ((await endpointReady(name)) === true ? true : undefined));
    let out = '';
    const f = c.node.kubectlSpawn(['-n', NS, 'logs', '-f', name, '-c', 'podhooks-logs']);
    followers.push(f);
    f.stdout!.on('data', (d) => (out += d));
    return { streamed: () => out };
  }

  /** What `kubectl logs -f` printed, once it holds `text` (the failure shows what it printed). */
  async function printed(streamed: () => string, text: string): Promise<string> {
    try {
      await eventually('the hook log to show the end of the run', async () => (streamed().includes(text) ? true : undefined), 30_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; kubectl logs -f -c podhooks-logs printed:\n${streamed()}`);
    }
    return streamed();
  }

  /** Deletes the pod, watching its endpoint, until it is gone; the events its processes sent, with arrival times relative to the delete. */
  async function deleteAndWatch(name: string) {
    const looks: { at: number; endpoint: V1EndpointConditions | undefined; ready: boolean }[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const at = Date.now();
        const [conditions, p] = await Promise.all([endpoint(name), c.core.readNamespacedPod({ name, namespace: NS }).catch(() => undefined)]);
        looks.push({ at, endpoint: conditions, ready: p ? isReady(p) : false });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const first = host.events.length;
    const deletedAt = Date.now();
    try {
      await c.core.deleteNamespacedPod({ name, namespace: NS });
      await host.waitForEvent((e) => e.pod === name && e.event === 'signal terminated', 'the app to report its SIGTERM');
      await eventually('the pod to be gone', async () => ((await c.core.readNamespacedPod({ name, namespace: NS }).catch(() => undefined)) === undefined ? true : undefined), 60_000);
    } finally {
      watching = false;
      await watcher;
    }
    const reported = host.events.map((e, i) => ({ event: e.event, pid: e.pid, pod: e.pod, after: host.receivedAt[i] - deletedAt })).slice(first).filter((e) => e.pod === name);
    return { reported, looks: looks.map((l) => ({ ...l, after: l.at - deletedAt })) };
  }

  test('kubectl delete: the endpoint leaves first, then after the drain delay the hook, the user\'s preStop, and SIGTERM', async () => {
    const name = native ? 'orders' : 'orders-classic';
    const { streamed } = await serving(name, `echo "postoffline: deregistering"\n${post(name, 'post-offline')}\necho "postoffline: deregistered"`);
    const { reported, looks } = await deleteAndWatch(name);

    expect(reported.map((e) => e.event)).toEqual(['post-offline', 'user-prestop', 'signal terminated']);
    expect(reported[2].pid).toBe('1'); // the app itself, not the preStop's /app notify
    const hookAt = reported[0].after;
    // The drain delay passed before the hook (a lower bound: the kubelet starts the preStop after the delete).
    expect(hookAt).toBeGreaterThanOrEqual(DRAIN_SECONDS * 1000);
    // Before the hook ran, the endpoint was seen out of the Service: not ready, terminating.
    // (The pod's own Ready condition stays True until its containers stop: the kubelet
    // does not change it for a deletion; the EndpointSlice controller acts on the deletion.)
    const out = looks.find((l) => l.endpoint?.ready !== true);
    expect(out).toBeDefined();
    expect(out!.after).toBeLessThan(hookAt);
    expect(out!.endpoint === undefined || (out!.endpoint.ready === false && out!.endpoint.terminating === true)).toBe(true);
    // Still `serving` (docs/post-offline.md): the pod's Ready condition is True until the app stops.
    expect(looks.filter((l) => l.after < hookAt && l.endpoint?.ready === false).every((l) => l.ready && l.endpoint!.serving === true)).toBe(true);
    // From then on it never came back.
    expect(looks.filter((l) => l.at >= out!.at && l.endpoint?.ready === true)).toEqual([]);

    // The hook's output and podhooks' lines, live in the hook log, in order.
    const log = await printed(streamed, 'post-offline: done; container app gets SIGTERM now');
    const order = [
      `post-offline: container app is stopping; waiting ${DRAIN_SECONDS}s (podhooks.io/drain-delay)`,
      'podhooks: post-offline hook starting',
      'postoffline: deregistering',
      'postoffline: deregistered',
      'podhooks: post-offline hook finished in ',
      "post-offline: running container app's own preStop: exec /app notify user-prestop",
      'post-offline: done; container app gets SIGTERM now',
    ].map((t) => log.indexOf(t));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]))).toBe(true);
    expect((await c.node.events(NS, name)).filter((e) => e.startsWith('FailedPreStopHook'))).toEqual([]);
  });

  test('a hook past its timeout is stopped; the user\'s preStop and SIGTERM still follow; the kubelet records FailedPreStopHook, the reason in its log', async () => {
    const name = native ? 'ledger' : 'ledger-classic';
    const { streamed } = await serving(name, `echo "postoffline: flushing"\n${post(name, 'post-offline')}\nsleep 60\n${post(name, 'hook-not-stopped')}`);
    const { reported } = await deleteAndWatch(name);

    expect(reported.map((e) => e.event)).toEqual(['post-offline', 'user-prestop', 'signal terminated']);
    // Stopped after its timeout (lower bound), well before the grace period's SIGKILL: the app got SIGTERM (it reported it).
    expect(reported[1].after - reported[0].after).toBeGreaterThanOrEqual((TIMEOUT_SECONDS - 1) * 1000);
    const events = await eventually('the kubelet to record the failed preStop', async () => {
      const e = (await c.node.events(NS, name)).filter((x) => x.startsWith('FailedPreStopHook'));
      return e.length ? e : undefined;
    });
    // The kubelet keeps a preStop's output out of its Event; its own log has podhooks' reason.
    expect(events).toEqual(['FailedPreStopHook: PreStopHook failed']);
    const reason = `podhooks: post-offline hook for container app did not finish within ${TIMEOUT_SECONDS}s (podhooks.io/post-offline-timeout) and was stopped`;
    // klog entries start with a severity and a date; a multi-line value (the output) continues on indented lines.
    const entries = readFileSync(join(c.node.dir, 'logs', 'kubelet.log'), 'utf8').split(/\n(?=[IWEF]\d{4} )/);
    const failed = entries.filter((e) => e.includes('"Exec lifecycle hook for Container in Pod failed"') && e.includes(`pod="${NS}/${name}"`));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toContain(reason);
    const log = await printed(streamed, 'post-offline: done; container app gets SIGTERM now');
    expect(log).toContain('postoffline: flushing');
    expect(log).toContain(`podhooks: post-offline hook still running after ${TIMEOUT_SECONDS}s; stopping it`);
    expect(log).toContain(`podhooks: post-offline hook did not finish within ${TIMEOUT_SECONDS}s (podhooks.io/post-offline-timeout) and was stopped`);
    expect(log.indexOf("running container app's own preStop")).toBeGreaterThan(log.indexOf('and was stopped'));
  });
});
