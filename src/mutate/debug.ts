// Java debug mode: the JVM gets a JDWP agent on loopback only (JAVA_TOOL_OPTIONS), a
// socat sidecar exposes it on the debug port, and the liveness (and startup) probe also
// passes while a debugger is connected, so a JVM paused at a breakpoint is not killed.
// Readiness is left alone: a paused JVM should take no traffic.
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { isIP } from 'node:net';
import type { Config } from '../config';
import { A, formatAnnotationError, type HookSpec } from './annotations';
import { addEnv, addMounts, type PodDraft } from './draft';
import { injectedContainerBase, NAMES, POD_BIN } from './layout';
import { addConditions, isPodhooksProbe, wrapProbe } from './probes';

export const JAVA_TOOL_OPTIONS = 'JAVA_TOOL_OPTIONS';
/** Holds the user's JAVA_TOOL_OPTIONS when it comes from valueFrom, so ours can reference it. */
export const USER_JAVA_TOOL_OPTIONS = 'PODHOOKS_USER_JAVA_TOOL_OPTIONS';

type Debug = NonNullable<HookSpec['debug']>;

/** The JDWP agent option: listens on 127.0.0.1 only; socat is the only way in. */
export function jdwpAgent(jvmPort: number, suspend: boolean): string {
  return `-agentlib:jdwp=transport=dt_socket,server=y,suspend=${suspend ? 'y' : 'n'},address=127.0.0.1:${jvmPort}`;
}

/**
 * The debug proxy: one forked socat per debugger connection, to the JVM's loopback port.
 * It listens on 127.0.0.1 (kubectl port-forward reaches it, guarded by RBAC on
 * pods/portforward) unless `allowFrom` exposes it on the pod network, and then socat
 * refuses every peer outside that CIDR.
 */
export function socatCommand(debugPort: number, jvmPort: number, allowFrom?: string): string[] {
  let listen = `TCP-LISTEN:${debugPort},bind=127.0.0.1,fork,reuseaddr`;
  if (allowFrom) {
    const [address, prefix] = allowFrom.split('/');
    listen = isIP(address) === 6 ? `TCP6-LISTEN:${debugPort},fork,reuseaddr,range=[${address}]/${prefix}` : `TCP-LISTEN:${debugPort},fork,reuseaddr,range=${allowFrom}`;
  }
  return ['socat', '-d', '-d', listen, `TCP:127.0.0.1:${jvmPort}`];
}

/** "key=value" requires that value; a bare "key" only requires the label to exist. */
function hasLabel(labels: Record<string, string>, spec: string): boolean {
  const i = spec.indexOf('=');
  const actual = labels[i < 0 ? spec : spec.slice(0, i)];
  return actual !== undefined && (i < 0 || actual === spec.slice(i + 1));
}

/** The CIDR to expose the debug port to for a namespace with these labels, or undefined (127.0.0.1 only). */
export function debugAllowFrom(config: Config, namespaceLabels: Record<string, string> | undefined): string | undefined {
  const net = config.debug.network;
  if (!net.allowFrom) return undefined;
  return net.allNamespaces || (namespaceLabels && hasLabel(namespaceLabels, net.namespaceLabel)) ? net.allowFrom : undefined;
}

function portsOf(pod: V1Pod): { port: number; where: string }[] {
  const spec = pod.spec!;
  return [...(spec.initContainers ?? []), ...spec.containers].flatMap((c) =>
    (c.ports ?? []).map((p) => ({ port: p.containerPort, where: `containerPort ${p.containerPort}${p.name ? ` (${p.name})` : ''} of container ${c.name}` })),
  );
}

/** JAVA_TOOL_OPTIONS with the agent appended, or why that cannot be done. */
function planEnv(c: V1Container, agent: string): { error?: string; entries?: V1EnvVar[]; index?: number } {
  const env = c.env ?? [];
  const matches = env.flatMap((e, i) => (e.name === JAVA_TOOL_OPTIONS ? [i] : []));
  const where = `container ${c.name}`;
  if (matches.length > 1) return { error: `${where} sets ${JAVA_TOOL_OPTIONS} ${matches.length} times in env; keep one so podhooks can append the JDWP agent to it` };
  if (env.some((e) => e.name === USER_JAVA_TOOL_OPTIONS)) return { error: `${where} already has an env var ${USER_JAVA_TOOL_OPTIONS}, a name podhooks reserves for debug mode; rename it` };
  if (matches.length === 0) return { entries: [{ name: JAVA_TOOL_OPTIONS, value: agent }] };
  const index = matches[0];
  const current = env[index];
  if (/-agentlib:jdwp|-Xrunjdwp|-agentpath:\S*jdwp/.test(current.value ?? '')) {
    return { error: `${where}: ${JAVA_TOOL_OPTIONS} already loads a JDWP agent (${JSON.stringify(current.value)}); remove it, debug mode adds its own on 127.0.0.1` };
  }
  if (!current.valueFrom) return { index, entries: [{ name: JAVA_TOOL_OPTIONS, value: current.value ? `${current.value} ${agent}` : agent }] };
  const ref = current.valueFrom.configMapKeyRef ?? current.valueFrom.secretKeyRef;
  if (ref?.optional) {
    // An optional key may be absent; the kubelet would then pass "$(...)" to the JVM literally.
    return {
      error:
        `${where} takes ${JAVA_TOOL_OPTIONS} from an optional ${current.valueFrom.configMapKeyRef ? 'configMapKeyRef' : 'secretKeyRef'} (${ref.name}/${ref.key}), ` +
        `so podhooks cannot append the JDWP agent to it. Fix: make the reference non-optional, or set ${JAVA_TOOL_OPTIONS} with value: in env`,
    };
  }
  // The kubelet expands $(NAME) from env vars defined earlier in the list.
  return {
    index,
    entries: [
      { name: USER_JAVA_TOOL_OPTIONS, valueFrom: current.valueFrom },
      { name: JAVA_TOOL_OPTIONS, value: `$(${USER_JAVA_TOOL_OPTIONS}) ${agent}` },
    ],
  };
}

/** Problems that stop debug mode, each naming the annotation or field, the value and the fix. */
export function debugErrors(pod: V1Pod, debug: Debug, config: Config, annotations: Record<string, string>): string[] {
  const errors: string[] = [];
  const { jvmPort } = config.debug;
  const portValue = annotations[A.debugPort] ?? String(debug.port);
  const portAnnotation = annotations[A.debugPort] === undefined ? `${A.debugPort} (default ${debug.port}, config debug.defaultPort)` : A.debugPort;
  const err = (message: string) => errors.push(formatAnnotationError({ annotation: portAnnotation, value: portValue, message }));
  if (pod.spec!.hostNetwork) {
    errors.push(formatAnnotationError({ annotation: A.debug, value: 'true', message: 'cannot be used with spec.hostNetwork: the debug port and the JVM\'s JDWP port would open on the node itself. Fix: remove hostNetwork or turn debug off' }));
  }
  if (debug.port === jvmPort) err(`is the JVM's own loopback JDWP port (config debug.jvmPort); choose another debug port`);
  for (const { port, where } of portsOf(pod)) {
    if (port === debug.port) err(`collides with ${where}; choose a port no container uses, e.g. ${config.debug.defaultPort === port ? port + 1 : config.debug.defaultPort}`);
    if (port === jvmPort) errors.push(`config debug.jvmPort=${jvmPort}: collides with ${where}; the JVM's JDWP agent listens there on 127.0.0.1. Fix: set debug.jvmPort in the podhooks config to a free port`);
  }
  const c = pod.spec!.containers.find((x) => x.name === debug.container)!;
  const env = planEnv(c, jdwpAgent(jvmPort, debug.suspend));
  if (env.error) errors.push(formatAnnotationError({ annotation: A.debug, value: 'true', message: env.error }));
  return errors;
}

function uniquePortName(pod: V1Pod, base: string): string {
  const taken = new Set([...(pod.spec!.initContainers ?? []), ...pod.spec!.containers].flatMap((c) => (c.ports ?? []).map((p) => p.name)));
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

/** What the user should know but that does not stop debug mode (admission warnings). */
export function debugWarnings(pod: V1Pod, debug: Debug): string[] {
  const c = pod.spec!.containers.find((x) => x.name === debug.container);
  if (!c?.envFrom?.length || c.env?.some((e) => e.name === JAVA_TOOL_OPTIONS)) return [];
  return [`podhooks debug: container ${debug.container} uses envFrom; a JAVA_TOOL_OPTIONS from it is overridden, set it in env`];
}

/** Adds debug mode to the draft; call debugErrors first (this assumes a clean plan). */
export function addDebug(draft: PodDraft, debug: Debug, config: Config, bin: string, native: boolean, allowFrom?: string): void {
  const { jvmPort } = config.debug;
  draft.addSidecar(
    NAMES.debug,
    {
      ...injectedContainerBase(config, config.debug.socatImage ?? config.injection.toolsImage),
      command: socatCommand(debug.port, jvmPort, allowFrom),
      ports: [{ name: uniquePortName(draft.pod, 'jdwp'), containerPort: debug.port, protocol: 'TCP' }],
    },
    native,
    'last',
  );
  draft.updateContainer(debug.container, (c, record) => {
    const plan = planEnv(c, jdwpAgent(jvmPort, debug.suspend));
    if (plan.index === undefined) addEnv(c, record, plan.entries!);
    else {
      const original = c.env![plan.index];
      c.env = [...c.env!.slice(0, plan.index), ...plan.entries!, ...c.env!.slice(plan.index + 1)];
      record.envOriginal = { ...record.envOriginal, [JAVA_TOOL_OPTIONS]: original };
      const added = plan.entries!.filter((e) => e.name !== JAVA_TOOL_OPTIONS).map((e) => e.name);
      if (added.length) record.env = [...(record.env ?? []), ...added];
    }
    // Liveness and startup probes both restart the container on failure. A startup probe
    // that preStart already rewrote gets the debugger condition added to its own.
    let rewritten = false;
    for (const kind of ['livenessProbe', 'startupProbe'] as const) {
      const probe = c[kind];
      if (!probe) continue;
      if (record[kind] === undefined) record[kind] = probe;
      const condition = ['--jdwp-port', String(jvmPort)];
      c[kind] = isPodhooksProbe(probe) ? addConditions(probe, condition) : wrapProbe(probe, c, kind, condition);
      rewritten = true;
    }
    if (rewritten && !(c.volumeMounts ?? []).some((m) => m.name === bin)) addMounts(c, record, [{ name: bin, mountPath: POD_BIN, readOnly: true }]);
    return c;
  });
}

/** True when debug mode rewrites a probe of the container, which then needs the tools volume. */
export function debugRewritesProbes(pod: V1Pod, debug: Debug): boolean {
  const c = pod.spec!.containers.find((x) => x.name === debug.container);
  return !!(c?.livenessProbe || c?.startupProbe);
}
