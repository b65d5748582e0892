#!/usr/bin/env node
// Where /mutate's time goes without HTTP: µs per request for each stage of the handler
// (parse the review, inject, make the patch, serialise the answer), on the golden corpus
// and the 6 KB two-hook pod (its repeats answered from the per-template cache; npm run
// bench:templates measures the handler with the cache on and off). Run under `node --cpu-prof bench/hotpath.js` for a profile.
// Needs dist/ (npm run build). Flags: --seconds=N per measurement (default 2); --handler
// (only the whole handler, e.g. for --cpu-prof, so the profile is not split across stages).
'use strict';
const { compare } = require('fast-json-patch');
const { reviewBodies, twoHookReviewBody } = require('./corpus');
const { perCall } = require('./cpu');
const { mutateHandler } = require('./handler');
const { injectPod } = require('../dist/mutate/inject');
const { copyOnWritePatch } = require('../dist/mutate/patch');

const SECONDS = Number(process.argv.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 2);
const { ctx, parseReview, answer } = mutateHandler();
const opts = { config: ctx.config, nativeSidecars: true };

const HANDLER_ONLY = process.argv.includes('--handler');
const handler = async (b) => Buffer.from(await answer(b));

async function stages(name, buffers) {
  const bodies = buffers.map((b) => b.toString('utf8'));
  if (HANDLER_ONLY) return console.log(`${name} (Node ${process.version}): whole handler ${(await perCall(handler, bodies, SECONDS)).toFixed(1)} µs`);
  const parsed = bodies.map((b) => parseReview(b));
  const injected = parsed.map((r) => injectPod(r.object, { ...opts, namespace: r.namespace }).pod);
  const idx = new Map(bodies.map((b, i) => [b, i]));
  const row = {
    'parse review': await perCall((b) => parseReview(b), bodies, SECONDS),
    injectPod: await perCall((b) => injectPod(parsed[idx.get(b)].object, opts), bodies, SECONDS),
    'patch (copy-on-write)': await perCall((b) => copyOnWritePatch(parsed[idx.get(b)].object, injected[idx.get(b)]), bodies, SECONDS),
    'patch (compare, reference)': await perCall((b) => compare(parsed[idx.get(b)].object, injected[idx.get(b)]), bodies, SECONDS),
    'whole handler, answers kept per template': await perCall(handler, bodies, SECONDS),
  };
  console.log(`${name} (Node ${process.version}):`);
  for (const [stage, us] of Object.entries(row)) console.log(`  ${stage.padEnd(44)} ${us.toFixed(1)} µs`);
}

(async () => {
  await stages('6 KB two-hook pod', [twoHookReviewBody()]);
  await stages(`golden corpus (${reviewBodies().length} reviews)`, reviewBodies());
})();
