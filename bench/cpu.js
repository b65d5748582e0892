// CPU time per call, the measure of bench/hotpath.js and bench/rounds.js: this process's
// user + system time, because on a shared machine wall time also counts the others.

/** CPU µs per call of fn over the bodies, for `seconds` of CPU after a warm-up. */
async function perCall(fn, bodies, seconds) {
  for (let i = 0; i < 1000; i++) await fn(bodies[i % bodies.length]);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const cpu = () => { const c = process.cpuUsage(cpu0); return c.user + c.system; };
  while (cpu() < seconds * 1e6) for (let k = 0; k < 50; k++) await fn(bodies[n++ % bodies.length]);
  return cpu() / n;
}

module.exports = { perCall };
