// The registry access policy without sockets: which addresses count as internal, what
// allowedRegistries opens, what the socket lookup hands on, and config validation.
import type { LookupAddress } from 'node:dns';
import { parseConfig } from '../../src/config';
import { AccessDenied, AccessPolicy, canonicalAddress, type ResolvedAddress } from '../../src/registry/access';

const url = (u: string) => new URL(u);

describe('internal addresses', () => {
  const policy = new AccessPolicy({ allowedRegistries: [] });
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', '"this network"'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'unspecified or IPv4-compatible'],
    ['::', 'unspecified or IPv4-compatible'],
    ['fd00::1', 'unique local (ULA)'],
    ['fe80::1', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a00:1', 'NAT64'],
    ['2002:a00:1::', '6to4'],
    ['2001:db8::1', 'documentation'],
  ])('%s is %s', (address, kind) => {
    expect(policy.internalKind(address)).toBe(kind);
  });

  test.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(policy.internalKind(address)).toBeUndefined();
  });

  test('v4-mapped forms are read as the IPv4 address they carry', () => {
    expect(canonicalAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalAddress('[::ffff:a00:1]')).toBe('10.0.0.1');
    expect(canonicalAddress('0000:0000:0000:0000:0000:ffff:0a00:0001')).toBe('10.0.0.1');
    expect(canonicalAddress('2001:db8::ffff:a00:1')).toBe('2001:db8::ffff:a00:1');
  });

  test('internalCIDRs add ranges (a publicly routable pod or service CIDR)', () => {
    const p = new AccessPolicy({ allowedRegistries: [], internalCIDRs: ['34.118.224.0/20'] });
    expect(p.internalKind('34.118.230.7')).toBe('cluster-internal (registry.internalCIDRs)');
    expect(p.refusal(url('https://kube-dns.example:443/'), '34.118.230.7')).toMatch(/cluster-internal/);
  });
});

describe('allowedRegistries', () => {
  test('a host:port entry allows that host on that port only, whatever it resolves to', () => {
    const p = new AccessPolicy({ allowedRegistries: ['registry.internal:5000'] });
    expect(p.refusal(url('http://registry.internal:5000/v2/'), '10.0.0.5')).toBeUndefined();
    expect(p.refusal(url('http://registry.internal:5001/v2/'), '10.0.0.5')).toMatch(/^registry\.internal \(10\.0\.0\.5\) is a private address; podhooks connects only to public registry addresses and to those listed in registry\.allowedRegistries$/);
  });

  test('a host entry allows every port; the default port counts for URLs without one', () => {
    const p = new AccessPolicy({ allowedRegistries: ['harbor.corp', '127.0.0.1:443'] });
    expect(p.refusal(url('https://harbor.corp/v2/'), '10.0.0.5')).toBeUndefined();
    expect(p.refusal(url('https://harbor.corp:8443/v2/'), '10.0.0.5')).toBeUndefined();
    expect(p.refusal(url('https://127.0.0.1/v2/'), '127.0.0.1')).toBeUndefined();
    expect(p.refusal(url('http://127.0.0.1/v2/'), '127.0.0.1')).toMatch(/loopback/);
  });

  test('a CIDR entry allows the addresses in it, for any name', () => {
    const p = new AccessPolicy({ allowedRegistries: ['10.20.0.0/16'] });
    expect(p.refusal(url('https://anything.example/'), '10.20.3.4')).toBeUndefined();
    expect(p.refusal(url('https://anything.example/'), '10.21.3.4')).toMatch(/private/);
  });

  test('an IPv6 literal entry matches the bracketed URL host', () => {
    const p = new AccessPolicy({ allowedRegistries: ['[fd00::5]:5000'] });
    expect(p.refusal(url('http://[fd00::5]:5000/'), 'fd00::5')).toBeUndefined();
    expect(() => p.checkLiteral(url('http://[fd00::6]:5000/'))).toThrow(AccessDenied);
  });

  test('checkLiteral refuses IP literals, including the forms URL parsing normalises', () => {
    const p = new AccessPolicy({ allowedRegistries: [] });
    for (const u of ['http://127.0.0.1:5000/', 'http://[::ffff:127.0.0.1]:5000/', 'http://2130706433:5000/', 'http://0x7f.1:5000/', 'http://169.254.169.254/latest/meta-data/']) {
      expect(() => p.checkLiteral(url(u))).toThrow(AccessDenied);
    }
    expect(() => p.checkLiteral(url('https://registry.example.com/'))).not.toThrow(); // names: checked at lookup
    expect(() => p.checkLiteral(url('https://8.8.8.8/'))).not.toThrow();
  });
});

describe('the socket lookup hands on only allowed addresses', () => {
  const hosts: Record<string, ResolvedAddress[]> = {
    'mixed.test': [
      { address: '10.0.0.9', family: 4 },
      { address: '93.184.215.14', family: 4 },
      { address: 'fd00::9', family: 6 },
    ],
    'internal.test': [{ address: '169.254.169.254', family: 4 }],
  };
  const resolver = async (name: string) => hosts[name] ?? [];
  const policy = new AccessPolicy({ allowedRegistries: [], resolver });
  const lookup = (u: string, options: object) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number }>((resolve) =>
      policy.lookupFor(url(u))(new URL(u).hostname, options, (err, address, family) => resolve({ err, address, family })),
    );

  test('all: the internal ones are dropped', async () => {
    expect(await lookup('https://mixed.test/', { all: true })).toEqual({ err: null, address: [{ address: '93.184.215.14', family: 4 }], family: undefined });
  });

  test('one address: the first allowed one', async () => {
    expect(await lookup('https://mixed.test/', {})).toEqual({ err: null, address: '93.184.215.14', family: 4 });
  });

  test('nothing allowed: AccessDenied naming the address and the setting', async () => {
    const { err } = await lookup('http://internal.test:8080/', { all: true });
    expect(err).toBeInstanceOf(AccessDenied);
    expect(err!.message).toBe('internal.test (169.254.169.254) is a link-local address; podhooks connects only to public registry addresses and to those listed in registry.allowedRegistries');
  });

  test('an unknown name is ENOTFOUND', async () => {
    expect((await lookup('http://nowhere.test/', {})).err?.code).toBe('ENOTFOUND');
  });
});

test('config: allowedRegistries and internalCIDRs entries are checked where the config is parsed', () => {
  expect(parseConfig({ registry: { allowedRegistries: ['registry.internal:5000', '10.0.0.0/8', '[fd00::1]:5000'], internalCIDRs: ['100.70.0.0/16'] } }).registry.allowedRegistries).toHaveLength(3);
  expect(() => parseConfig({ registry: { allowedRegistries: ['https://registry.internal/v2/'] } })).toThrow(
    'registry.allowedRegistries.0: must be host, host:port or a CIDR such as 10.0.0.0/8 (no path, no scheme) (got "https://registry.internal/v2/")',
  );
  expect(() => parseConfig({ registry: { internalCIDRs: ['10.0.0.0/33'] } })).toThrow('registry.internalCIDRs.0: must be a CIDR such as 10.96.0.0/12 or fd00::/8 (got "10.0.0.0/33")');
  expect(parseConfig({}).registry).toMatchObject({ timeoutMs: 2000, allowedRegistries: [], internalCIDRs: [] });
});
