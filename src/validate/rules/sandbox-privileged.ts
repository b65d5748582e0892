// In a sandbox "privileged" reaches only the guest VM's devices, never the host's: a pod
// that needs host privileges would silently get less than it asked for.
import { allContainers, CONTAINER_KINDS } from '../pod-fields';
import { celConcat, celViolation, NON_SANDBOXED, sandboxRule } from '../rule';
import { cel, t, template } from '../text';

const message = template<'rc' | 'path'>(({ rc, path }) => t`runtimeClassName "${rc}" gives privileged containers only the sandbox's devices, not the host's: remove ${path}.securityContext.privileged, ${NON_SANDBOXED}`);
const summary = template<'rc' | 'path'>(({ rc, path }) => t`remove ${path}.securityContext.privileged (runtime class "${rc}")`);

export const sandboxPrivileged = sandboxRule({
  id: 'sandbox-privileged',
  description: 'Containers (app, init, ephemeral) of a pod on a sandboxed runtime class cannot be privileged.',
  defaultAction: 'deny',
  find: (pod, rc) =>
    allContainers(pod)
      .filter(({ container }) => container.securityContext?.privileged === true)
      .map(({ path }) => ({ field: `${path}.securityContext.privileged`, message: message.text({ rc, path }), summary: summary.text({ rc, path }) })),
  cel: ({ pod, rc }) =>
    celConcat(
      CONTAINER_KINDS.map((kind) => {
        const path = cel(`'spec.${kind}[' + string(c.name) + ']'`);
        return (
          `${pod}.spec.?${kind}.orValue([]).filter(c, c.?securityContext.?privileged.orValue(false) == true)` +
          `.map(c, ${celViolation({ field: t`${path}.securityContext.privileged`, message: message.cel({ rc, path }), summary: summary.cel({ rc, path }) })})`
        );
      }),
    ),
});
