#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled from src/ to dist/ by `npm ci` (prepare script).
try {
  require.resolve('../dist/cli/main.js');
} catch {
  console.error('podhooks: dist/ is missing; run `npm ci` (or `npm run build`) first');
  process.exit(2);
}
require('../dist/cli/main.js').main(process.argv).catch((err) => {
  console.error(`podhooks: ${err && err.message ? err.message : err}`);
  process.exit(2);
});
