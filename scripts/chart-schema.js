#!/usr/bin/env node
// Writes deploy/chart/values.schema.json from the zod schemas (src/chart/values-schema.ts,
// src/config.ts). Run through `npm run chart:schema`, which builds first;
// test/unit/chart-values.test.ts fails when the committed file differs.
'use strict';
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { chartValuesJsonText } = require('../dist/chart/values-schema.js');

const out = join(__dirname, '..', 'deploy', 'chart', 'values.schema.json');
writeFileSync(out, chartValuesJsonText());
console.log(`chart:schema: wrote ${out}`);
