// The configuration keys issue 17 added: their defaults, and errors that name the field.
import { parseConfig } from '../../src/config';

test('defaults: bounded server, private registries and debug port, the CA key in its own Secret', () => {
  const c = parseConfig({});
  expect(c.server).toMatchObject({ maxConnections: 1000, headersTimeoutMs: 10_000, requestTimeoutMs: 15_000, keepAliveTimeoutMs: 65_000 });
  expect(c.registry).toMatchObject({ timeoutMs: 2000, allowedRegistries: [], internalCIDRs: [] });
  expect(c.debug.network).toEqual({ namespaceLabel: 'podhooks.io/debug-network=allowed', allNamespaces: false });
  expect(c.certificates.caSecretName).toBe('podhooks-ca');
});

test('a headers timeout longer than the request timeout is refused, naming both', () => {
  expect(() => parseConfig({ server: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } })).toThrow('server.headersTimeoutMs: must not exceed server.requestTimeoutMs (10000) (got 20000)');
  expect(() => parseConfig({ server: { maxConnections: 0 } })).toThrow(/server\.maxConnections: .*\(got 0\)/);
});
