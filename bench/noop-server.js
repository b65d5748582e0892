// The platform's limit: a bare node:https server that reads the AdmissionReview, parses
// it and answers allowed: true. Whatever podhooks does costs its distance from this.
'use strict';
const { createServer } = require('node:https');
const { readFileSync } = require('node:fs');

const [certFile, keyFile, port] = process.argv.slice(2);
let first = true;
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  // One line when the first review arrives, so a harness knows the apiserver calls it.
  if (first) (first = false), console.log('first request');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
