// The /mutate handler without HTTP, as `podhooks serve` runs it on its defaults (native
// sidecars, no cluster, no registry, answers kept per pod template): for the benchmarks
// that time it or size its answers.
'use strict';
const { resolve } = require('node:path');

/** `dist`: a build of podhooks (default: this checkout's); `settings`: podhooks.yaml as an
 *  object (default: none). `answer` is the serialised answer to a review body. */
function mutateHandler(dist = resolve(__dirname, '../dist'), settings = {}) {
  const { parseReview, serialiseReview } = require(`${dist}/admission/review`);
  const { mutate } = require(`${dist}/admission/handlers`);
  const { parseConfig } = require(`${dist}/config`);
  const config = parseConfig(settings);
  const ctx = { config, nativeSidecars: true, templates: templateCache(dist, config) };
  return { ctx, mutate, parseReview, answer: async (body) => serialiseReview((await mutate(parseReview(body), ctx)).response) };
}

/** The per-template answers, as the server keeps them; undefined for builds before them. */
function templateCache(dist, config) {
  let TemplateCache;
  try {
    ({ TemplateCache } = require(`${dist}/admission/template-cache`));
  } catch {
    return undefined;
  }
  return new TemplateCache(config.server.templateCacheEntries);
}

module.exports = { mutateHandler };
