// API calls podhooks makes off the hot path (Events, audit lists) are aborted by
// deadline(): against a real HTTP server on 127.0.0.1 that never answers, the call fails
// instead of hanging, and the server sees the connection closed.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { deadline } from '../../src/kube/deadline';
import { EventQueue, kubeEventSink } from '../../src/kube/events';
import { silentLogger } from '../../src/log';
import { Metrics } from '../../src/metrics';

test('a silent apiserver costs a bounded wait: the Event call is aborted and counted as dropped', async () => {
  const seen: IncomingMessage[] = [];
  const closed: Promise<void>[] = [];
  const server = createServer((req) => {
    seen.push(req);
    closed.push(new Promise((r) => req.socket.once('close', () => r())));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const core = kc.makeApiClient(CoreV1Api);
    await expect(core.listNamespacedPod({ namespace: 'a' }, deadline(200))).rejects.toThrow(/abort/i);

    const metrics = new Metrics(false);
    const queue = new EventQueue({ sink: kubeEventSink(core, 200), size: 10, metrics, logger: silentLogger, instance: 't' });
    queue.enqueue({ namespace: 'a', involvedObject: { kind: 'Pod', name: 'p', namespace: 'a' }, reason: 'PodhooksDenied', message: 'm', annotations: {} });
    await queue.idle();
    const dropped = (await metrics.eventsDropped.get()).values;
    expect(dropped.map((v) => [v.labels.reason, v.value])).toEqual([['api-error', 1]]);
    expect(seen.map((r) => [r.method, r.url])).toEqual([
      ['GET', '/api/v1/namespaces/a/pods'],
      ['POST', '/api/v1/namespaces/a/events'],
    ]);
    await Promise.all(closed);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
