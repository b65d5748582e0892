// Classic sidecars that end with the app. With injection.nativeSidecars "false" the log
// streamer, the preOnline runner and the debug proxy are ordinary containers, and a pod
// whose restartPolicy is Never or OnFailure (a Job's) completes only once every
// container has exited. The app is PID 1 of its own container and process namespaces are
// not shared (they cannot be on sandboxed runtimes), so the news crosses a shared volume:
// the wrapper of each served app container holds a FIFO there that the exec'd app
// inherits, and each sidecar ends once every FIFO it watches has lost its last holder
// (sidecars/bin/hooklib.sh). A served container without preStart is wrapped too, with no
// hook: that is the only way into its process, so its ENTRYPOINT must be known as for
// preStart (spec command, annotation, or registry).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { HookSpec } from './annotations';
import type { PodDraft } from './draft';
import { POD_BIN, POD_RUN } from './layout';

/** The app containers whose end the classic sidecars wait for, or [] when they need not end. */
export function appsToOutlive(pod: V1Pod, spec: HookSpec, native: boolean): string[] {
  const restart = pod.spec?.restartPolicy;
  if (native || (restart !== 'Never' && restart !== 'OnFailure')) return [];
  const hooks = spec.preStart !== undefined || spec.preOnline !== undefined || spec.postOffline !== undefined;
  // Sidecars exist for: the log streamer and the preOnline runner (hooks), the debug proxy.
  if (!(hooks && (spec.logStream || spec.preOnline)) && !spec.debug) return [];
  const served = [...(hooks ? spec.containers : []), ...(spec.debug ? [spec.debug.container] : [])];
  return [...new Set(served)];
}

/** Our own scripts watch PODHOOKS_END_WITH themselves; any other command runs under sidecar.sh. */
function isPodhooksScript(command: string[] | undefined): boolean {
  return !!command && command[0]?.endsWith('/busybox') && command[1] === 'sh' && /\/(logstream|preonline)\.sh$/.test(command[2] ?? '');
}

/**
 * Makes every classic sidecar podhooks added end once the `apps` have ended: they get the
 * FIFOs' volume (read-only) and the list to watch. Call after all sidecars are added.
 */
export function endSidecarsWithApps(draft: PodDraft, apps: string[], volumes: { bin: string; run: string }): void {
  const watch = apps.map((name) => `${POD_RUN}/${name}`).join(' ');
  const added = new Set(draft.status.containers);
  draft.pod.spec!.containers = draft.pod.spec!.containers.map((c): V1Container => {
    if (!added.has(c.name)) return c;
    const mounts = [...(c.volumeMounts ?? []), { name: volumes.run, mountPath: POD_RUN, readOnly: true }];
    const sidecar: V1Container = { ...c, env: [...(c.env ?? []), { name: 'PODHOOKS_END_WITH', value: watch }], volumeMounts: mounts };
    if (!isPodhooksScript(c.command)) {
      sidecar.command = [`${POD_BIN}/busybox`, 'sh', `${POD_BIN}/sidecar.sh`, '--', ...(c.command ?? [])];
      if (!mounts.some((m) => m.name === volumes.bin)) mounts.push({ name: volumes.bin, mountPath: POD_BIN, readOnly: true });
    }
    return sidecar;
  });
}
