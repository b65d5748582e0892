#!/usr/bin/env node
// What the per-template answer cache (src/admission/template-cache.ts) buys and costs: the
// whole /mutate handler (parse, decide, serialise; no HTTP) with the cache on (the default,
// server.templateCacheEntries 256) and off (0), interleaved round by round, each
// measurement in a process of its own, on three workloads: the two-hook pod as 2,000
// replicas of one template (a Deployment), the golden corpus (60 templates), and the
// two-hook pod as 2,000 templates of one pod each (an Indexed Job: every review injected).
// Usage: node bench/template-cache.js [--seconds=N] [--rounds=N]. Needs dist/ (npm run build).
'use strict';
const { execFileSync } = require('node:child_process');
const { mutateHandler } = require('./handler');
const { median, numericFlag, perCall } = require('./cpu');

const WORKLOADS = {
  'two-hook pod, 2,000 replicas of one template': (c) => c.twoHookReplicaBodies(2000),
  'golden corpus (60 templates)': (c) => c.reviewBodies(),
  'two-hook pod, 2,000 templates (Indexed Job)': (c) => c.twoHookTemplateBodies(2000),
};
const SETTINGS = { 'cache on (256)': 256, 'cache off (0)': 0 };

const argv = process.argv.slice(2);
const opt = (name, d) => numericFlag(argv, name, d);

if (argv[0] === '--child') {
  const [, workload, entries, seconds] = argv;
  const { answer } = mutateHandler(undefined, { server: { templateCacheEntries: Number(entries) } });
  const bodies = WORKLOADS[workload](require('./corpus')).map((b) => b.toString());
  perCall(async (body) => Buffer.from(await answer(body)), bodies, Number(seconds), 2).then((us) => console.log(JSON.stringify(us)));
} else {
  const SECONDS = opt('seconds', 1);
  const ROUNDS = opt('rounds', 5);
  const us = new Map();
  for (let r = 0; r < ROUNDS; r++) {
    for (const w of Object.keys(WORKLOADS)) {
      // Alternate which setting goes first: a process's neighbours in time share its luck.
      const order = r % 2 ? Object.entries(SETTINGS).reverse() : Object.entries(SETTINGS);
      for (const [label, entries] of order) {
        const out = execFileSync(process.execPath, [__filename, '--child', w, String(entries), String(SECONDS)], { encoding: 'utf8' });
        const key = `${w}\0${label}`;
        us.set(key, [...(us.get(key) ?? []), Number(out.trim())]);
      }
    }
  }
  console.log(`Node ${process.version}, ${ROUNDS} interleaved rounds of ${SECONDS} CPU-s per setting and workload, each in a process of its own; CPU µs per review (median), × cache off`);
  console.log(`| workload | ${Object.keys(SETTINGS).join(' | ')} | on × off |`);
  console.log('|---|---:|---:|---:|');
  for (const w of Object.keys(WORKLOADS)) {
    const [on, off] = Object.keys(SETTINGS).map((s) => median(us.get(`${w}\0${s}`)));
    console.log(`| ${w} | ${on.toFixed(1)} | ${off.toFixed(1)} | ${(on / off).toFixed(2)}× |`);
  }
}
