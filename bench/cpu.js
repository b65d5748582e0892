// CPU time per call, the measure of bench/hotpath.js and bench/rounds.js: this process's
// user + system time, because on a shared machine wall time also counts the others. It
// counts V8's background threads too (compiler, GC), so the warm-up runs until the JIT
// has settled: `warmup` CPU-seconds (in a fresh process the first seconds cost 2-3x).

/** CPU µs per call of fn over the bodies, for `seconds` of CPU after `warmup` CPU-seconds of calls. */
async function perCall(fn, bodies, seconds, warmup = 1) {
  const cpu = (since) => { const c = process.cpuUsage(since); return c.user + c.system; };
  const w0 = process.cpuUsage();
  for (let i = 0; i < 1000 || cpu(w0) < warmup * 1e6; i++) await fn(bodies[i % bodies.length]);
  let n = 0;
  const cpu0 = process.cpuUsage();
  while (cpu(cpu0) < seconds * 1e6) for (let k = 0; k < 50; k++) await fn(bodies[n++ % bodies.length]);
  return cpu(cpu0) / n;
}

/** The middle value (the upper one of an even count): what the interleaved benchmarks report. */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A numeric `--name=value` flag of `argv`, or `fallback`. */
const numericFlag = (argv, name, fallback) => Number(argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

module.exports = { perCall, median, numericFlag };
