// The /mutate handler without HTTP, as `podhooks serve` runs it on its defaults (native
// sidecars, no cluster, no registry): for the benchmarks that time it or size its answers.
'use strict';
const { resolve } = require('node:path');

/** `dist`: a build of podhooks (default: this checkout's). `answer` is the serialised answer to a review body. */
function mutateHandler(dist = resolve(__dirname, '../dist')) {
  const { parseReview, serialiseReview } = require(`${dist}/admission/review`);
  const { mutate } = require(`${dist}/admission/handlers`);
  const { parseConfig } = require(`${dist}/config`);
  const ctx = { config: parseConfig({}), nativeSidecars: true };
  return { ctx, mutate, parseReview, answer: async (body) => serialiseReview((await mutate(parseReview(body), ctx)).response) };
}

module.exports = { mutateHandler };
