#!/usr/bin/env node
// What each round of issue 18 bought, measured in one run: the whole /mutate handler (parse
// the review, inject, patch, serialise the answer; no HTTP) of several builds of podhooks,
// interleaved round by round, on the 6 KB two-hook pod (one review, and replicas), on the golden corpus, and on the
// two-hook pod sent back injected (reinvocation: the status is verified by re-injecting,
// trust.ts). Each measurement runs in a process of its own: builds measured in one process
// slow each other down (the second measured was up to 1.5× slower, whichever it was).
// Usage: node bench/rounds.js label=path/to/dist ... [--seconds=N] [--rounds=N]
// (a build of another commit: `git worktree add <dir> <commit>`, link node_modules, and
// `npx tsc -p tsconfig.build.json` there).
'use strict';
const { execFileSync } = require('node:child_process');
const { resolve } = require('node:path');
const { mutateHandler } = require('./handler');
const { median, numericFlag } = require('./cpu');

const argv = process.argv.slice(2);
/** Replicas of one template, each with its own token volume name (answered from the cache, renamed). */
const REPLICAS = 'two-hook pod, replicas';
const opt = (name, d) => numericFlag(argv, name, d);

/** In a child: CPU µs per request of one build on one workload, printed as JSON. */
async function measure(dist, workload, seconds, reinvocationFrom) {
  const { reviewBodies, twoHookReviewBody, twoHookReplicaBodies } = require('./corpus');
  const { perCall } = require('./cpu');
  const { answer } = mutateHandler(dist);
  const handler = async (body) => Buffer.from(await answer(body));
  let bodies;
  if (workload === 'golden corpus') bodies = reviewBodies().map((b) => b.toString());
  else if (workload === 'two-hook pod') bodies = [twoHookReviewBody().toString()];
  else if (workload === REPLICAS) bodies = twoHookReplicaBodies(200).map((b) => b.toString());
  else bodies = [await reinvocationBody(reinvocationFrom)];
  console.log(JSON.stringify(await perCall(handler, bodies, seconds, 2)));
}

/** The two-hook pod injected (by the given build), as the apiserver sends it back on reinvocation. */
async function reinvocationBody(dist) {
  const { twoHookReviewBody } = require('./corpus');
  const { mutate, ctx } = mutateHandler(dist);
  const { applyPatch } = require('fast-json-patch');
  const review = JSON.parse(twoHookReviewBody().toString());
  const out = await mutate(review.request, ctx);
  review.request.object = applyPatch(review.request.object, JSON.parse(Buffer.from(out.response.patch, 'base64').toString())).newDocument;
  return JSON.stringify(review);
}

if (argv[0] === '--child') {
  const [, dist, workload, seconds, from] = argv;
  measure(dist, workload, Number(seconds), from);
} else {
  const SECONDS = opt('seconds', 1);
  const ROUNDS = opt('rounds', 5);
  const builds = argv.filter((a) => !a.startsWith('--')).map((a) => {
    const [label, dir] = a.includes('=') ? a.split('=') : [a, a];
    return { label, dist: resolve(dir) };
  });
  const workloads = ['two-hook pod', REPLICAS, 'golden corpus', 'reinvocation (two-hook pod, injected)'];
  const us = new Map();
  for (let r = 0; r < ROUNDS; r++) {
    for (const w of workloads) {
      for (const b of builds) {
        const key = `${w}\0${b.label}`;
        if (!us.has(key)) us.set(key, []);
        const out = execFileSync(process.execPath, [__filename, '--child', b.dist, w, String(SECONDS), builds[0].dist], { encoding: 'utf8' });
        us.get(key).push(Number(out.trim()));
      }
    }
  }
  console.log(`Node ${process.version}, ${ROUNDS} interleaved rounds of ${SECONDS} CPU-s per build and workload, each in a process of its own; CPU µs per request (median), × the first build`);
  console.log(`| workload | ${builds.map((b) => b.label).join(' | ')} |`);
  console.log(`|---|${builds.map(() => '---:').join('|')}|`);
  for (const w of workloads) {
    const first = median(us.get(`${w}\0${builds[0].label}`));
    console.log(`| ${w} | ${builds.map((b) => { const m = median(us.get(`${w}\0${b.label}`)); return `${m.toFixed(1)} (${(m / first).toFixed(2)}×)`; }).join(' | ')} |`);
  }
}
