export const STATE_FILE: string;
export const CGROUP: string;
export const CGROUP_ROOT: string;
export const BRIDGE: string;
export function hierarchies(): string[];
/** What a previous node left running, or undefined when nothing is. */
export function leftovers(): string | undefined;
/** Kills the node's processes, removes its cgroups, bridge and (unless keepDir) files; returns what could not be removed. */
export function teardown(opts?: { keepDir?: boolean }): string[];
