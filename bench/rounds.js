#!/usr/bin/env node
// What each round of issue 18 bought, measured in one run: the whole /mutate handler (parse
// the review, inject, patch, serialise the answer; no HTTP) of several builds of podhooks,
// interleaved round by round, on the 6 KB two-hook pod, on the golden corpus, and on the
// two-hook pod sent back injected (reinvocation: the status is verified by re-injecting,
// trust.ts). Usage: node bench/rounds.js label=path/to/dist ... [--seconds=N] [--rounds=N]
// (a build of another commit: `git archive <commit> src tsconfig*.json package.json` into a
// directory under node_modules/ and `tsc -p tsconfig.build.json` there).
'use strict';
const { resolve } = require('node:path');
const { reviewBodies, twoHookReviewBody } = require('./corpus');
const { perCall } = require('./cpu');

const argv = process.argv.slice(2);
const opt = (name, d) => Number(argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const SECONDS = opt('seconds', 1);
const ROUNDS = opt('rounds', 5);
const builds = argv.filter((a) => !a.startsWith('--')).map((a) => {
  const [label, dir] = a.includes('=') ? a.split('=') : [a, a];
  const dist = resolve(dir);
  const { parseReview, serialiseReview } = require(`${dist}/admission/review`);
  const { mutate } = require(`${dist}/admission/handlers`);
  const { parseConfig } = require(`${dist}/config`);
  const ctx = { config: parseConfig({}), nativeSidecars: true };
  return { label, handler: async (body) => Buffer.from(serialiseReview((await mutate(parseReview(body), ctx)).response)), mutate, ctx, parseReview };
});

/** The two-hook pod injected (by the first build), as the apiserver sends it back on reinvocation. */
async function reinvocationBody() {
  const review = JSON.parse(twoHookReviewBody().toString());
  const b = builds[0];
  const out = await b.mutate(review.request, b.ctx);
  const { applyPatch } = require('fast-json-patch');
  review.request.object = applyPatch(review.request.object, JSON.parse(Buffer.from(out.response.patch, 'base64').toString())).newDocument;
  return JSON.stringify(review);
}

(async () => {
  const workloads = {
    'two-hook pod': [twoHookReviewBody().toString()],
    'golden corpus': reviewBodies().map((b) => b.toString()),
    'reinvocation (two-hook pod, injected)': [await reinvocationBody()],
  };
  const us = new Map();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [w, bodies] of Object.entries(workloads)) {
      for (const b of builds) {
        const key = `${w}\0${b.label}`;
        if (!us.has(key)) us.set(key, []);
        us.get(key).push(await perCall(b.handler, bodies, SECONDS));
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`Node ${process.version}, ${ROUNDS} interleaved rounds of ${SECONDS} CPU-s per build and workload; CPU µs per request (median), × the first build`);
  console.log(`| workload | ${builds.map((b) => b.label).join(' | ')} |`);
  console.log(`|---|${builds.map(() => '---:').join('|')}|`);
  for (const w of Object.keys(workloads)) {
    const first = median(us.get(`${w}\0${builds[0].label}`));
    console.log(`| ${w} | ${builds.map((b) => { const m = median(us.get(`${w}\0${b.label}`)); return `${m.toFixed(1)} (${(m / first).toFixed(2)}×)`; }).join(' | ')} |`);
  }
})();
