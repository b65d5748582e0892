import type { V1Pod } from '@kubernetes/client-node';
import { formatAnnotationError, parseAnnotations } from '../../src/mutate/annotations';

const defaults = { preOnlineTimeoutSeconds: 300, preStartTimeoutSeconds: 300, warmupTimeoutSeconds: 300, warmupFailure: 'fail' as const, postOfflineTimeoutSeconds: 15, drainDelaySeconds: 5, excludedContainers: [], debugPort: 5005, authzByDefault: false };
function pod(annotations: Record<string, string>, containers = ['app'], labels?: Record<string, string>): V1Pod {
  return { metadata: { name: 'p', annotations, labels }, spec: { containers: containers.map((name) => ({ name, image: 'x' })) } };
}
const errors = (a: Record<string, string>, containers?: string[]) => parseAnnotations(pod(a, containers), defaults).errors.map(formatAnnotationError);

test('a pod without podhooks annotations wants nothing', () => {
  const parsed = parseAnnotations(pod({ 'example.com/x': 'y' }), defaults);
  expect(parsed).toEqual({ spec: { containers: [], main: 'app', entrypoints: {}, logStream: false, preStartTimeoutSeconds: 300 }, errors: [], wantsInjection: false });
});

test('hooks with defaults: the main container, log streaming on, default timeouts', () => {
  const { spec, errors: e } = parseAnnotations(pod({ 'podhooks.io/pre-start': 'echo', 'podhooks.io/pre-online': 'x', 'podhooks.io/check-url': 'http://localhost:8080/h' }, ['a', 'b']), defaults);
  expect(e).toEqual([]);
  expect(spec).toMatchObject({ preStart: 'echo', preStartTimeoutSeconds: 300, containers: ['a'], main: 'a', logStream: true, preOnline: { script: 'x', checkUrl: 'http://localhost:8080/h', timeoutSeconds: 300 } });
});

test('pre-start-timeout overrides the config default and needs pre-start', () => {
  expect(parseAnnotations(pod({ 'podhooks.io/pre-start': 'x', 'podhooks.io/pre-start-timeout': '10m' }), defaults).spec.preStartTimeoutSeconds).toBe(600);
  expect(parseAnnotations(pod({ 'podhooks.io/pre-start': 'x' }), { ...defaults, preStartTimeoutSeconds: 42 }).spec.preStartTimeoutSeconds).toBe(42);
  expect(errors({ 'podhooks.io/pre-start-timeout': '10m' })).toEqual(['annotation podhooks.io/pre-start-timeout="10m": only applies with podhooks.io/pre-start; add the hook or remove this annotation']);
  expect(errors({ 'podhooks.io/pre-start': 'x', 'podhooks.io/pre-start-timeout': '0s' })).toEqual([
    'annotation podhooks.io/pre-start-timeout="0s": must be a duration from 1s to 24h, such as "90", "90s", "5m" or "1h"',
  ]);
});

test.each([
  ['90', 90],
  ['90s', 90],
  ['5m', 300],
  ['1h', 3600],
])('pre-online-timeout %s is %i seconds', (value, seconds) => {
  const { spec } = parseAnnotations(pod({ 'podhooks.io/pre-online': 'x', 'podhooks.io/check-url': 'http://l/', 'podhooks.io/pre-online-timeout': value }), defaults);
  expect(spec.preOnline?.timeoutSeconds).toBe(seconds);
});

test.each([
  [{ 'podhooks.io/inject': 'yes' }, 'annotation podhooks.io/inject="yes": must be "true" or "false"'],
  [{ 'podhooks.io/pre-start': '  ' }, 'annotation podhooks.io/pre-start="  ": is empty; give a shell script or remove the annotation'],
  [{ 'podhooks.io/pre-online': 'x' }, 'annotation podhooks.io/pre-online="x": needs podhooks.io/check-url'],
  [{ 'podhooks.io/pre-online': 'x', 'podhooks.io/check-url': 'ftp://h/' }, 'annotation podhooks.io/check-url="ftp://h/": scheme ftp: is not supported'],
  [{ 'podhooks.io/pre-online': 'x', 'podhooks.io/check-url': 'localhost:8080' }, 'annotation podhooks.io/check-url="localhost:8080": scheme localhost: is not supported'],
  [{ 'podhooks.io/pre-online': 'x', 'podhooks.io/check-url': 'http://l/', 'podhooks.io/pre-online-timeout': '2d' }, 'annotation podhooks.io/pre-online-timeout="2d": must be a duration from 1s to 24h'],
  [{ 'podhooks.io/check-url': 'http://l/' }, 'annotation podhooks.io/check-url="http://l/": only applies with podhooks.io/pre-online'],
  [{ 'podhooks.io/pre-start': 'x', 'podhooks.io/containers': 'nope' }, 'annotation podhooks.io/containers="nope": names "nope", not in spec.containers (app)'],
  [{ 'podhooks.io/pre-start': 'x', 'podhooks.io/entrypoint.app': '"/bin/app"' }, 'annotation podhooks.io/entrypoint.app="\\"/bin/app\\"": must be a non-empty JSON array of strings'],
  [{ 'podhooks.io/entrypoint.other': '["/x"]' }, 'annotation podhooks.io/entrypoint.other="[\\"/x\\"]": names container "other", which is not in spec.containers (app)'],
  [{ 'podhooks.io/debug': 'true', 'podhooks.io/debug-port': '70000' }, 'annotation podhooks.io/debug-port="70000": must be a port number from 1 to 65535'],
  [{ 'podhooks.io/authz': 'true', 'podhooks.io/authz-ports': '80,http' }, 'annotation podhooks.io/authz-ports="80,http": "http" is not a port'],
  [{ 'podhooks.io/log-stream': 'true' }, 'annotation podhooks.io/log-stream="true": streams hook output, but the pod has no podhooks.io/pre-start, podhooks.io/pre-online, podhooks.io/warmup-urls or podhooks.io/post-offline'],
  [{ 'podhooks.io/prestart': 'x' }, 'annotation podhooks.io/prestart="x": is not a podhooks annotation; known ones are'],
])('%j is refused: %s', (annotations, message) => {
  expect(errors(annotations).join('\n')).toContain(message);
});

test('debug needs debug-container when the pod has several application containers', () => {
  expect(errors({ 'podhooks.io/debug': 'true' }, ['a', 'b'])).toEqual(['annotation podhooks.io/debug="true": the pod has 2 application containers; set podhooks.io/debug-container to one of a, b']);
  const { spec } = parseAnnotations(pod({ 'podhooks.io/debug': 'true', 'podhooks.io/debug-container': 'b', 'podhooks.io/debug-suspend': 'true' }, ['a', 'b']), defaults);
  expect(spec.debug).toEqual({ port: 5005, container: 'b', suspend: true });
});

test('the inject label works like the annotation (webhook objectSelectors match labels)', () => {
  expect(parseAnnotations(pod({}, ['app'], { 'podhooks.io/inject': 'false' }), defaults).spec.inject).toBe(false);
});

test('authz turns on by namespace default and takes explicit ports', () => {
  expect(parseAnnotations(pod({}), { ...defaults, authzByDefault: true }).spec.authz).toEqual({ ports: undefined });
  expect(parseAnnotations(pod({ 'podhooks.io/authz': 'true', 'podhooks.io/authz-ports': '8443, 9443' }), defaults).spec.authz).toEqual({ ports: [8443, 9443] });
  expect(parseAnnotations(pod({ 'podhooks.io/authz': 'false' }), { ...defaults, authzByDefault: true }).spec.authz).toBeUndefined();
});
