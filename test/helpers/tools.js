// The programs the process tier and the benchmarks run for real (Debian's static busybox,
// socat, docker-registry, wrk), from the cache that scripts/provision-debs.sh fills: the
// tests never depend on what happens to be installed on the machine. Plain CommonJS so
// that bench/*.js can use it too (types in tools.d.ts).
const { existsSync, readdirSync } = require('node:fs');
const { homedir } = require('node:os');
const { join } = require('node:path');

const CACHE = process.env.PODHOOKS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'podhooks');
const DEBS_ROOT = join(CACHE, 'debs', 'root');

/** Where the unpacked packages keep their shared libraries (libwrap for socat, luajit for wrk). */
function libraryDirs() {
  return ['lib', 'usr/lib'].flatMap((base) => {
    const dir = join(DEBS_ROOT, base);
    return existsSync(dir) ? readdirSync(dir).filter((d) => d.endsWith('-linux-gnu')).map((d) => join(dir, d)) : [];
  });
}

/** Absolute path of a provisioned program; a clear error when provisioning did not run. */
function tool(relative) {
  const path = join(DEBS_ROOT, relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/provision-debs.sh (npm test does) to fetch the Debian packages the tests use`);
  return path;
}

/** Environment for the provisioned programs: their libraries first, their bin dir on PATH. */
function toolEnv(base = process.env) {
  const libs = [...libraryDirs(), base.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { ...base, LD_LIBRARY_PATH: libs, PATH: `${join(DEBS_ROOT, 'usr/bin')}:${base.PATH || '/usr/bin:/bin'}` };
}

module.exports = {
  CACHE,
  DEBS_ROOT,
  tool,
  toolEnv,
  busybox: () => tool('bin/busybox'),
  socat: () => tool('usr/bin/socat'),
  dockerRegistry: () => tool('usr/bin/docker-registry'),
  wrk: () => tool('usr/bin/wrk'),
};
