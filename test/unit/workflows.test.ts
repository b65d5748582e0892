// Warm-up URLs and the post-offline hook at admission: the warm-up grammar and its errors,
// the annotations that go with each, the preStop that composes with the user's, the grace
// period check (or raise), and uninject restoring all of it from podhooks.io/status.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config';
import { formatAnnotationError, parseAnnotations } from '../../src/mutate/annotations';
import { injectPod } from '../../src/mutate/inject';
import { readStatus, StatusError, uninject } from '../../src/mutate/uninject';
import { parseWarmupUrls, warmupEnv } from '../../src/mutate/warmup';

const config = parseConfig({});
const raising = parseConfig({ injection: { raiseGracePeriod: true } });
const defaults = { preOnlineTimeoutSeconds: 300, preStartTimeoutSeconds: 300, warmupTimeoutSeconds: 300, warmupFailure: 'fail' as const, postOfflineTimeoutSeconds: 15, drainDelaySeconds: 5, excludedContainers: [], debugPort: 5005, authzByDefault: false };

function pod(annotations: Record<string, string>, containers: Partial<V1Container>[] = [{}], grace?: number): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', annotations },
    spec: {
      ...(grace === undefined ? {} : { terminationGracePeriodSeconds: grace }),
      containers: containers.map((c, i) => ({ name: i === 0 ? 'app' : `c${i}`, image: 'x', command: ['/app'], ...c })),
    },
  };
}
const errors = (p: V1Pod) => parseAnnotations(p, defaults).errors.map(formatAnnotationError);
const inject = (p: V1Pod, cfg = config, nativeSidecars = true) => injectPod(p, { config: cfg, nativeSidecars });
const container = (p: V1Pod, name = 'app') => p.spec!.containers.find((c) => c.name === name)!;
const initContainer = (p: V1Pod, name: string) => p.spec!.initContainers!.find((c) => c.name === name)!;
const env = (c: V1Container, name: string) => c.env?.find((e) => e.name === name);

describe('warm-up grammar', () => {
  test('defaults: GET, once, 2xx or 3xx as the check URL counts a pass, 10 s per request', () => {
    expect(parseWarmupUrls('http://localhost:8080/warm')).toEqual([{ method: 'GET', url: 'http://localhost:8080/warm', count: 1, expect: ['2xx', '3xx'], timeoutSeconds: 10 }]);
  });

  test('every option, in any order, one entry per line or comma-separated, methods in any case', () => {
    const parsed = parseWarmupUrls('GET http://l:8080/warm x20 expect 200\n  post https://l/prime timeout 30s expect 200|2XX|204 ,\n\nhttp://l/a?b=c%2Cd x3');
    expect(parsed).toEqual([
      { method: 'GET', url: 'http://l:8080/warm', count: 20, expect: ['200'], timeoutSeconds: 10 },
      { method: 'POST', url: 'https://l/prime', count: 1, expect: ['200', '2xx', '204'], timeoutSeconds: 30 },
      { method: 'GET', url: 'http://l/a?b=c%2Cd', count: 3, expect: ['2xx', '3xx'], timeoutSeconds: 10 },
    ]);
    expect(warmupEnv(parsed as Exclude<typeof parsed, string>)).toBe('GET 20 200 10 http://l:8080/warm\nPOST 1 200,2xx,204 30 https://l/prime\nGET 3 2xx,3xx 10 http://l/a?b=c%2Cd');
  });

  test.each([
    ['', 'is empty; give one entry per line or comma-separated'],
    ['PUT http://l/x', 'entry 1 ("PUT http://l/x"): method "PUT" is not supported: busybox wget in the pod sends only GET and POST (with an empty body)'],
    ['GET', 'entry 1 ("GET"): has no URL; an entry is [GET|POST] URL'],
    ['http://l/a, localhost:8080/b', 'entry 2 ("localhost:8080/b"): "localhost:8080/b" is not an absolute http:// or https:// URL'],
    ['ftp://l/a', 'entry 1 ("ftp://l/a"): "ftp://l/a" is not an absolute http:// or https:// URL'],
    ['http:l/a', '"http:l/a" is not an absolute http:// or https:// URL'],
    ['http://l/a x0', 'count "x0" must be from x1 to x1000'],
    ['http://l/a x1001', 'count "x1001" must be from x1 to x1000'],
    ['http://l/a expect 600', 'expect "600" must be statuses like 200 or classes like 2xx (100-599), joined by |'],
    ['http://l/a expect', 'expect "" must be statuses'],
    ['http://l/a timeout 0', 'timeout "0" must be a duration from 1s to 300s'],
    ['http://l/a timeout 10m', 'timeout "10m" must be a duration from 1s to 300s'],
    ['http://l/a x2 x3', '"xCOUNT" is given twice'],
    ['http://l/a?ids=1,2', 'entry 2 ("2"): "2" is not an absolute http:// or https:// URL; an entry is [GET|POST] URL [xCOUNT] [expect STATUS[|STATUS...]] [timeout DURATION], e.g. "GET http://localhost:8080/warm x20 expect 200" (commas separate entries: a comma inside a URL is written %2C)'],
    ['http://l/a retries 3', '"retries" is not understood; after the URL come xCOUNT, "expect STATUS" and "timeout DURATION" (a comma inside a URL is written %2C)'],
    [Array(11).fill('http://l/a x1000').join('\n'), 'asks for 11000 requests in all; at most 10000 are allowed'],
    [Array(101).fill('http://l/a').join(','), 'has 101 entries; at most 100 are allowed'],
  ])('%j is refused: %s', (value, message) => {
    const parsed = parseWarmupUrls(value);
    expect(typeof parsed).toBe('string');
    expect(parsed).toContain(message);
  });
});

describe('warm-up annotations', () => {
  const url = 'http://localhost:8080/healthz';
  test('warm-up alone is the runner without a hook script; its deadline and failure mode default from config', () => {
    const { spec, errors: e } = parseAnnotations(pod({ 'podhooks.io/check-url': url, 'podhooks.io/warmup-urls': 'http://localhost:8080/w x2' }), { ...defaults, warmupFailure: 'warn', warmupTimeoutSeconds: 60 });
    expect(e).toEqual([]);
    expect(spec.preOnline).toEqual({ script: undefined, checkUrl: url, timeoutSeconds: 300, warmup: { requests: [expect.objectContaining({ count: 2 })], timeoutSeconds: 60, failure: 'warn' } });
    expect(spec.containers).toEqual(['app']);
  });

  test.each([
    [{ 'podhooks.io/warmup-urls': 'http://l/w' }, 'annotation podhooks.io/warmup-urls="http://l/w": needs podhooks.io/check-url, the URL that must pass before the warm-up starts'],
    [{ 'podhooks.io/check-url': url, 'podhooks.io/warmup-urls': 'http://l/w', 'podhooks.io/warmup-failure': 'ignore' }, 'annotation podhooks.io/warmup-failure="ignore": must be "fail" (a failed warm-up keeps the pod unready) or "warn"'],
    [{ 'podhooks.io/check-url': url, 'podhooks.io/warmup-urls': 'http://l/w', 'podhooks.io/warmup-timeout': '0' }, 'annotation podhooks.io/warmup-timeout="0": must be a duration from 1s to 24h'],
    [{ 'podhooks.io/warmup-timeout': '1m' }, 'annotation podhooks.io/warmup-timeout="1m": only applies with podhooks.io/warmup-urls; add it or remove this annotation'],
    [{ 'podhooks.io/pre-online': 'x', 'podhooks.io/check-url': url, 'podhooks.io/warmup-failure': 'warn' }, 'annotation podhooks.io/warmup-failure="warn": only applies with podhooks.io/warmup-urls'],
    [{ 'podhooks.io/check-url': url }, 'annotation podhooks.io/check-url="http://localhost:8080/healthz": only applies with podhooks.io/pre-online or podhooks.io/warmup-urls'],
    [{ 'podhooks.io/check-url': url, 'podhooks.io/warmup-urls': 'GET http://l/w x0' }, 'annotation podhooks.io/warmup-urls="GET http://l/w x0": entry 1 ("GET http://l/w x0"): count "x0" must be from x1 to x1000'],
  ])('%j is refused: %s', (annotations, message) => {
    expect(errors(pod(annotations)).join('\n')).toContain(message);
  });

  test('a warm-up only pod gets the runner without PODHOOKS_PRE_ONLINE, with the parsed requests, and the readiness gate', () => {
    const out = inject(pod({ 'podhooks.io/check-url': url, 'podhooks.io/warmup-urls': 'POST http://localhost:8080/w x5 expect 204', 'podhooks.io/warmup-failure': 'warn' })).pod;
    const runner = initContainer(out, 'podhooks-preonline');
    expect(env(runner, 'PODHOOKS_PRE_ONLINE')).toBeUndefined();
    expect(env(runner, 'PODHOOKS_WARMUP')?.value).toBe('POST 5 204 10 http://localhost:8080/w');
    expect(env(runner, 'PODHOOKS_WARMUP_FAILURE')?.value).toBe('warn');
    expect(env(runner, 'PODHOOKS_WARMUP_TIMEOUT_SECONDS')?.value).toBe('300');
    expect(container(out).readinessProbe?.exec?.command).toEqual(expect.arrayContaining(['--require-online', '/podhooks/state', 'app']));
  });
});

describe('post-offline', () => {
  const hook = { 'podhooks.io/post-offline': './deregister' };
  const preStopOf = (p: V1Pod, name = 'app') => container(p, name).lifecycle?.preStop?.exec?.command;
  const RUN = ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/postoffline.sh', 'run', '--container'];

  test.each([
    [{ 'podhooks.io/post-offline': ' ' }, 'annotation podhooks.io/post-offline=" ": is empty; give a shell script or remove the annotation'],
    [{ ...hook, 'podhooks.io/post-offline-timeout': 'soon' }, 'annotation podhooks.io/post-offline-timeout="soon": must be a duration from 1s to 24h'],
    [{ ...hook, 'podhooks.io/drain-delay': '-1' }, 'annotation podhooks.io/drain-delay="-1": must be a duration from 0s to 24h'],
    [{ 'podhooks.io/drain-delay': '5s' }, 'annotation podhooks.io/drain-delay="5s": only applies with podhooks.io/post-offline'],
    [{ 'podhooks.io/post-offline-timeout': '5s' }, 'annotation podhooks.io/post-offline-timeout="5s": only applies with podhooks.io/post-offline'],
  ])('%j is refused: %s', (annotations, message) => {
    expect(errors(pod(annotations)).join('\n')).toContain(message);
  });

  test('a drain delay of 0 is allowed; timeouts default from config', () => {
    expect(parseAnnotations(pod({ ...hook, 'podhooks.io/drain-delay': '0' }), defaults).spec.postOffline).toEqual({ timeoutSeconds: 15, drainSeconds: 0 });
    expect(parseAnnotations(pod(hook), { ...defaults, postOfflineTimeoutSeconds: 7, drainDelaySeconds: 2 }).spec.postOffline).toEqual({ timeoutSeconds: 7, drainSeconds: 2 });
  });

  test('only the main target container gets the preStop, also with containers "*"; the log streamer follows post-offline.log', () => {
    const p = pod({ ...hook, 'podhooks.io/containers': '*', 'kubectl.kubernetes.io/default-container': 'c1' }, [{}, {}]);
    const out = inject(p).pod;
    expect(preStopOf(out, 'c1')).toEqual([...RUN, 'c1', '--drain', '5', '--timeout', '15']);
    expect(container(out, 'app').lifecycle).toBeUndefined();
    expect(env(container(out, 'c1'), 'PODHOOKS_POST_OFFLINE')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.annotations['podhooks.io/post-offline']");
    expect(container(out, 'c1').volumeMounts).toEqual([
      { name: 'podhooks-bin', mountPath: '/podhooks/bin', readOnly: true },
      { name: 'podhooks-logs', mountPath: '/podhooks/logs' },
    ]);
    const logs = initContainer(out, 'podhooks-logs');
    expect(logs.command).toContain('/podhooks/logs/post-offline.log');
    expect(logs.lifecycle?.preStop?.exec?.command).toEqual(['/opt/podhooks/bin/busybox', 'sh', '/opt/podhooks/bin/postoffline.sh', 'await', '--within', '30']);
  });

  test("the user's preStop runs after the hook: exec and sleep as written, httpGet as a URL from inside the container", () => {
    const exec = inject(pod(hook, [{ lifecycle: { preStop: { exec: { command: ['/bin/quit', '-now'] } } } }])).pod;
    expect(preStopOf(exec)).toEqual([...RUN, 'app', '--drain', '5', '--timeout', '15', '--', 'exec', '/bin/quit', '-now']);
    const sleep = inject(pod(hook, [{ lifecycle: { preStop: { sleep: { seconds: 5 } } } }])).pod;
    expect(preStopOf(sleep)?.slice(-3)).toEqual(['--', 'sleep', '5']);
    const http = inject(pod(hook, [{ ports: [{ name: 'admin', containerPort: 9901 }], lifecycle: { preStop: { httpGet: { host: '::1', port: 'admin', path: 'stop', scheme: 'HTTPS', httpHeaders: [{ name: 'X-A', value: 'b:c' }] } } } }], 60)).pod;
    expect(preStopOf(http)?.slice(-5)).toEqual(['--', 'http-get', '60', 'https://[::1]:9901/stop', 'X-A:b:c']);
  });

  test('a preStop podhooks cannot run is refused, naming the container', () => {
    expect(inject(pod(hook, [{ lifecycle: { preStop: { tcpSocket: { port: 80 } } } }])).errors).toEqual([
      'container app: lifecycle.preStop.tcpSocket is never run by the kubelet (it is deprecated and does nothing); remove it: podhooks.io/post-offline puts its own preStop handler there and runs an exec, httpGet or sleep preStop after the hook',
    ]);
    expect(inject(pod(hook, [{ lifecycle: { preStop: { httpGet: { port: 'nope' } } } }])).errors[0]).toContain('lifecycle.preStop.httpGet uses port "nope", which is not a named port of the container');
  });

  test('the grace period must hold drain + timeout + 5 s (+ the user\'s preStop sleep): exactly fitting passes, one second short is refused', () => {
    const timed = { ...hook, 'podhooks.io/post-offline-timeout': '20s', 'podhooks.io/drain-delay': '5' };
    expect(inject(pod(timed, [{}], 30)).errors).toEqual([]);
    expect(inject(pod(timed, [{}], 29)).errors).toEqual([
      "annotation podhooks.io/post-offline: the pod's terminationGracePeriodSeconds (29s) cannot hold what runs before container app gets SIGTERM: drain delay 5s (podhooks.io/drain-delay) + post-offline timeout 20s (podhooks.io/post-offline-timeout) + 5s to stop a hook that overruns = 30s, so the kubelet could kill the container before the hook ended. Fix: set spec.terminationGracePeriodSeconds to at least 30 plus what the app needs to shut down, or shorten podhooks.io/post-offline-timeout or podhooks.io/drain-delay (or the operator sets injection.raiseGracePeriod, which adds podhooks' part to the grace period)",
    ]);
    // Unset means Kubernetes' default of 30 s, and says so.
    expect(inject(pod({ ...timed, 'podhooks.io/drain-delay': '6' })).errors[0]).toContain("terminationGracePeriodSeconds (30s, Kubernetes' default)");
    expect(inject(pod(timed, [{ lifecycle: { preStop: { sleep: { seconds: 10 } } } }], 39)).errors[0]).toContain("+ the container's own preStop sleep 10s = 40s");
  });

  test('injection.raiseGracePeriod adds podhooks\' part to the grace period instead; uninject restores it', () => {
    const p = pod({ ...hook, 'podhooks.io/post-offline-timeout': '2m' }, [{}], 20);
    const out = inject(p, raising).pod;
    expect(out.spec!.terminationGracePeriodSeconds).toBe(20 + 5 + 120 + 5);
    expect(readStatus(out)!.terminationGracePeriodSeconds).toBe(20);
    expect(uninject(out).pod).toEqual(p);
    const unset = pod(hook);
    const raised = inject(unset, raising).pod;
    expect(raised.spec!.terminationGracePeriodSeconds).toBe(30 + 25);
    expect(uninject(raised).pod).toEqual(unset);
    expect(inject(raised, raising).pod).toEqual(raised);
  });

  test("uninject restores the user's lifecycle (postStart and preStop) exactly; re-injection equals one injection", () => {
    const p = pod({ ...hook, 'podhooks.io/pre-start': 'echo hi' }, [{ lifecycle: { postStart: { exec: { command: ['/reg'] } }, preStop: { exec: { command: ['/quit'] } } } }]);
    const out = inject(p).pod;
    expect(container(out).lifecycle?.postStart).toEqual({ exec: { command: ['/reg'] } });
    expect(readStatus(out)!.changed.app.lifecycle).toEqual(p.spec!.containers[0].lifecycle);
    expect(uninject(out).pod).toEqual(p);
    expect(inject(out).pod).toEqual(out);
    const optedOut = inject({ ...out, metadata: { ...out.metadata, annotations: { ...out.metadata!.annotations, 'podhooks.io/inject': 'false' } } }).pod;
    expect(container(optedOut).lifecycle).toEqual(p.spec!.containers[0].lifecycle);
  });

  test('classic sidecars: the log streamer waits for the run that the same termination starts, as a native one does', () => {
    const out = inject(pod(hook), config, false).pod;
    const logs = out.spec!.containers.find((c) => c.name === 'podhooks-logs')!;
    expect(logs.lifecycle?.preStop?.exec?.command).toEqual(['/opt/podhooks/bin/busybox', 'sh', '/opt/podhooks/bin/postoffline.sh', 'await', '--within', '30']);
  });

  test('a forged grace period in podhooks.io/status is refused, not applied', () => {
    const out = inject(pod(hook), raising).pod;
    const status = { ...readStatus(out)!, terminationGracePeriodSeconds: -3 };
    const forged = { ...out, metadata: { ...out.metadata, annotations: { ...out.metadata!.annotations, 'podhooks.io/status': JSON.stringify(status) } } };
    expect(() => uninject(forged)).toThrow(StatusError);
  });
});
