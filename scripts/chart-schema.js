#!/usr/bin/env node
// Writes what the Helm chart takes from the code: deploy/chart/values.schema.json from the
// zod schemas (src/chart/values-schema.ts, src/config.ts), and
// deploy/chart/templates/_policies.tpl, the admission policies of `podhooks policy render`
// as a template (src/chart/policies-template.ts). Run through `npm run chart:schema`, which
// builds first; test/unit/chart-values.test.ts fails when a committed file differs.
'use strict';
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { chartValuesJsonText } = require('../dist/chart/values-schema.js');
const { policiesTemplateText } = require('../dist/chart/policies-template.js');

const chart = join(__dirname, '..', 'deploy', 'chart');
for (const [file, text] of [['values.schema.json', chartValuesJsonText()], ['templates/_policies.tpl', policiesTemplateText()]]) {
  writeFileSync(join(chart, file), text);
  console.log(`chart:schema: wrote ${join(chart, file)}`);
}
