// Which hosts the registry client may connect to. A pod author chooses image names, and
// the registry's answers choose redirect targets and token realms, so every connection
// is checked against this policy: public addresses are allowed, and loopback, private,
// link-local, CGNAT, cluster-internal, ULA and other special-purpose addresses (IPv4-mapped
// IPv6 addresses count as the IPv4 address they carry) only when
// registry.allowedRegistries lists the host (or a CIDR holding the address).
//
// The check is made on the address a connection really uses: the client's `lookup` hook
// resolves the name, drops addresses the policy refuses and hands only allowed ones to
// the socket, so a name cannot resolve to a public address when checked and to an
// internal one when connected (DNS rebinding). IP literals never reach `lookup`, so
// `checkLiteral` covers them before the request is made.
import * as dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses; tests pass a hosts-file-like resolver. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) =>
  (await dns.promises.lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** Raised (through the socket's lookup, or before a request) for a connection the policy refuses. */
export class AccessDenied extends Error {
  readonly code = 'ERR_PODHOOKS_REGISTRY_ACCESS';
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(message);
  }
}

// Special-purpose ranges (IANA IPv4/IPv6 special-purpose address registries): never
// "public", so only reachable when listed.
const SPECIAL_V4: [string, number, string][] = [
  ['0.0.0.0', 8, '"this network"'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignment'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const SPECIAL_V6: [string, number, string][] = [
  ['::', 96, 'unspecified or IPv4-compatible'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'NAT64 (local use)'],
  ['100::', 64, 'discard'],
  ['2001::', 23, 'IETF protocol assignment (Teredo, ...)'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4'],
  ['fc00::', 7, 'unique local (ULA)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** The eight 16-bit groups of an IPv6 address (with an embedded dotted IPv4 tail). */
function ipv6Groups(a: string): number[] | undefined {
  let text = a;
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[2].split('.').map(Number);
    text = `${v4[1]}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const groups = halves.length === 2 ? [...head, ...Array(8 - head.length - tail.length).fill(0), ...tail] : head;
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, in any spelling) as `a.b.c.d`; others lower-cased. */
export function canonicalAddress(address: string): string {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  if (isIP(a) !== 6) return a;
  const g = ipv6Groups(a);
  if (!g || g.slice(0, 5).some((x) => x !== 0) || g[5] !== 0xffff) return a;
  return [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255].join('.');
}

interface Listed {
  host: string;
  port?: string;
}

function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(entry);
  if (!m) return undefined;
  const address = canonicalAddress(m[1]);
  const family = isIP(address);
  const prefix = Number(m[2]);
  if (family === 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** Problems in an allowedRegistries / internalCIDRs list, for the config schema. */
export function accessEntryProblem(entry: string, cidrOnly = false): string | undefined {
  if (parseCidr(entry)) return undefined;
  if (cidrOnly) return 'must be a CIDR such as 10.96.0.0/12 or fd00::/8';
  if (entry.includes('/')) return 'must be host, host:port or a CIDR such as 10.0.0.0/8 (no path, no scheme)';
  try {
    const u = new URL(`http://${entry}/`);
    if (u.username || u.password || u.pathname !== '/' || u.search) throw new Error();
  } catch {
    return 'must be host, host:port or a CIDR such as 10.0.0.0/8';
  }
  return undefined;
}

export interface AccessPolicyOptions {
  /** host, host:port (registries, token services, redirect targets) or CIDRs reachable although not public. */
  allowedRegistries: string[];
  /** Extra ranges that count as internal (a cluster whose pod or service CIDR is publicly routable). */
  internalCIDRs?: string[];
  resolver?: Resolver;
}

export class AccessPolicy {
  private readonly special = new BlockList();
  private readonly extraInternal = new BlockList();
  private readonly allowedRanges = new BlockList();
  private readonly listed: Listed[] = [];
  private readonly resolver: Resolver;

  constructor(options: AccessPolicyOptions) {
    for (const [a, p] of SPECIAL_V4) this.special.addSubnet(a, p, 'ipv4');
    for (const [a, p] of SPECIAL_V6) this.special.addSubnet(a, p, 'ipv6');
    for (const entry of options.internalCIDRs ?? []) {
      const c = parseCidr(entry);
      if (c) this.extraInternal.addSubnet(c.address, c.prefix, c.family);
    }
    for (const entry of options.allowedRegistries) {
      const c = parseCidr(entry);
      if (c) this.allowedRanges.addSubnet(c.address, c.prefix, c.family);
      else {
        const u = new URL(`http://${entry.trim()}/`);
        this.listed.push({ host: u.hostname.replace(/^\[|\]$/g, '').toLowerCase(), ...(u.port ? { port: u.port } : {}) });
      }
    }
    this.resolver = options.resolver ?? systemResolver;
  }

  private isListed(url: URL): boolean {
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return this.listed.some((l) => (l.host === host || canonicalAddress(l.host) === canonicalAddress(host)) && (l.port === undefined || l.port === port));
  }

  /** Why `address` is not public, or undefined when it is. */
  internalKind(address: string): string | undefined {
    const a = canonicalAddress(address);
    const family = isIP(a) === 4 ? 'ipv4' : 'ipv6';
    if (this.extraInternal.check(a, family)) return 'cluster-internal (registry.internalCIDRs)';
    if (!this.special.check(a, family)) return undefined;
    const table = family === 'ipv4' ? SPECIAL_V4 : SPECIAL_V6;
    const one = new BlockList();
    for (const [net, prefix, kind] of table) {
      one.addSubnet(net, prefix, family);
      if (one.check(a, family)) return kind;
    }
    return 'special-purpose';
  }

  /** Undefined when `url` may connect to `address`, else the reason. */
  refusal(url: URL, address: string): string | undefined {
    if (this.isListed(url)) return undefined;
    const a = canonicalAddress(address);
    if (this.allowedRanges.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6')) return undefined;
    const kind = this.internalKind(a);
    if (!kind) return undefined;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const named = canonicalAddress(host) === a ? a : `${host} (${a})`;
    return `${named} is a ${kind} address; podhooks connects only to public registry addresses and to those listed in registry.allowedRegistries`;
  }

  /** Throws AccessDenied when `url` names a refused IP literal (lookup is not called for those). */
  checkLiteral(url: URL): void {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) === 0) return;
    const why = this.refusal(url, host);
    if (why) throw new AccessDenied(url.host, why);
  }

  /** A socket `lookup` for connections to `url`: resolves, keeps only allowed addresses. */
  lookupFor(url: URL): LookupFunction {
    return ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
      this.resolver(hostname).then(
        (all) => {
          const wanted = all.filter((a) => !options.family || options.family === a.family || (options.family as unknown) === `IPv${a.family}`);
          const allowed = wanted.filter((a) => this.refusal(url, a.address) === undefined);
          if (allowed.length === 0) {
            const first = wanted[0] ?? all[0];
            const why = first ? this.refusal(url, first.address)! : `${hostname} has no address`;
            callback(first ? new AccessDenied(url.host, why) : Object.assign(new Error(why), { code: 'ENOTFOUND' }), '', 4);
            return;
          }
          if (options.all) callback(null, allowed.map((a) => ({ address: a.address, family: a.family })));
          else callback(null, allowed[0].address, allowed[0].family);
        },
        (err: NodeJS.ErrnoException) => callback(err, '', 4),
      );
    }) as LookupFunction;
  }
}
