// Stops a test node and removes everything it made on the machine: every process in its
// cgroup tree (the mount-namespace holder, containerd, its shims, kubelet, the scheduler
// and every container) by PID, the cgroups the pods created, the bridge and its files.
// Synchronous, so it also runs from a process 'exit' handler. One node per machine: its
// state file names what a previous run may have left behind.
//   node test/node/harness/teardown.js     (npm run node:cleanup)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { CACHE } = require('../../helpers/tools');

const STATE_FILE = path.join(CACHE, 'node', 'state.json');
const CGROUP_ROOT = '/sys/fs/cgroup';
/** The cgroup (in every v1 hierarchy) that holds the node's daemons and, through the kubelet's cgroupRoot, its pods. */
const CGROUP = 'podhooks-node';
const BRIDGE = 'podhooks0';

const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** The hierarchies mounted under /sys/fs/cgroup: v1 (cpu, memory, pids, name=systemd, ...) and, on
 *  hybrid machines, the v2 one at /sys/fs/cgroup/unified, where runc makes cgroups too. */
function hierarchies() {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .map((l) => l.split(' '))
    .filter((f) => (f[2] === 'cgroup' || f[2] === 'cgroup2') && f[1].startsWith(`${CGROUP_ROOT}/`))
    .map((f) => f[1]);
}

/** Every directory of the tree under `dir`, deepest first. */
function treeDeepestFirst(dir) {
  if (!fs.existsSync(dir)) return [];
  const subdirs = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  return [...subdirs.flatMap(treeDeepestFirst), dir];
}

/** PIDs of every process in the node's cgroup tree (any hierarchy holds them all: take the pids one). */
function nodePids() {
  const pids = new Set();
  for (const h of hierarchies()) {
    for (const dir of treeDeepestFirst(path.join(h, CGROUP))) {
      try {
        for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return [...pids];
}

function bridgeExists() {
  return fs.existsSync(`/sys/class/net/${BRIDGE}`);
}

function readState() {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
  } catch {
    return undefined;
  }
}

/** What a previous node left running, or undefined when nothing is. */
function leftovers() {
  const pids = nodePids();
  const state = readState();
  const parts = [];
  if (pids.length) parts.push(`${pids.length} processes in cgroup ${CGROUP} (PIDs ${pids.slice(0, 10).join(' ')}${pids.length > 10 ? ' ...' : ''})`);
  if (bridgeExists()) parts.push(`bridge ${BRIDGE}`);
  if (state && parts.length) parts.push(`started by PID ${state.owner} at ${state.startedAt}, files in ${state.dir}`);
  return parts.length ? parts.join('; ') : undefined;
}

/**
 * Kills every process of the node, removes its cgroups and bridge, and its directory
 * unless `keepDir`. Returns what could not be removed (empty when all is clean).
 */
function teardown({ keepDir = false } = {}) {
  const problems = [];
  // SIGKILL, repeated until the tree is empty: a dying containerd may still start a shim.
  for (let round = 0; round < 100; round++) {
    const pids = nodePids();
    if (!pids.length) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    sleepSync(100);
  }
  const still = nodePids();
  if (still.length) problems.push(`processes still in cgroup ${CGROUP}: ${still.join(' ')}`);
  // With every process gone, the private mount namespace (and with it the pods' network
  // namespaces and overlay mounts) is gone too; the veths went with the namespaces.
  if (bridgeExists()) {
    const r = spawnSync('ip', ['link', 'del', BRIDGE], { encoding: 'utf8' });
    if (r.status !== 0) problems.push(`ip link del ${BRIDGE}: ${r.stderr.trim()}`);
  }
  for (const h of hierarchies()) {
    for (const dir of treeDeepestFirst(path.join(h, CGROUP))) {
      for (let i = 0; i < 20; i++) {
        try {
          fs.rmdirSync(dir);
          break;
        } catch (err) {
          if (err.code === 'ENOENT') break;
          if (i === 19) problems.push(`rmdir ${dir}: ${err.code}`);
          sleepSync(100);
        }
      }
    }
  }
  const state = readState();
  if (state?.dir && !keepDir) fs.rmSync(state.dir, { recursive: true, force: true });
  if (!problems.length) fs.rmSync(STATE_FILE, { force: true });
  return problems;
}

module.exports = { STATE_FILE, CGROUP, CGROUP_ROOT, BRIDGE, hierarchies, leftovers, teardown };

if (require.main === module) {
  const before = leftovers();
  const problems = teardown({ keepDir: process.argv.includes('--keep-dir') });
  if (problems.length) {
    console.error(`node cleanup: could not remove everything:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(before ? `node cleanup: removed ${before}` : 'node cleanup: nothing was left');
}
