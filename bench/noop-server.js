// The platform's limit: a bare node:https server that reads the AdmissionReview, parses
// it and answers allowed: true. Whatever podhooks does costs its distance from this.
// With a fourth argument (a JSON file of request uid → answer length in bytes), it answers
// with a dummy patch that makes each answer as long as podhooks' answer to that review:
// the limit for a webhook that has that much to say, with nothing computed.
'use strict';
const { createServer } = require('node:https');
const { readFileSync } = require('node:fs');

const [certFile, keyFile, port, sizesFile] = process.argv.slice(2);
const sizes = sizesFile ? JSON.parse(readFileSync(sizesFile, 'utf8')) : undefined;
const filler = 'A'.repeat(1 << 20);

function answer(uid) {
  const plain = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
  const size = sizes?.[uid];
  if (!size || size <= plain.length) return plain;
  const head = `${plain.slice(0, -2)},"patchType":"JSONPatch","patch":"`;
  const room = Math.max(0, size - head.length - 3);
  return `${head}${filler.slice(0, room - (room % 4))}"}}`;
}

let first = true;
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  // One line when the first review arrives, so a harness knows the apiserver calls it.
  if (first) (first = false), console.log('first request');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const body = answer(review.request.uid);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
