#!/usr/bin/env node
// Reference authorization service for tests and the bench: a real HTTP server on
// 127.0.0.1 that implements the contract in docs/authz.md with a capacity limit.
// Above `--capacity` concurrent requests it answers 429 with Retry-After; it counts the
// peak number of requests in flight (offered load, counted before the capacity check),
// 429s, registrations and, per pod uid, the arrival time of each request.
//   node server.js [--host 127.0.0.1] [--port 0] [--capacity 8] [--latency-ms 0] [--retry-after 1]
//                  [--retry-after-date N] [--fail-first N] [--fail-status 503] [--deny-pod NAME] [--hang]
// --retry-after '' sends no Retry-After; --retry-after-date N sends an HTTP date N s ahead.
// --fail-first N: the first N requests of each pod uid get --fail-status with Retry-After.
// --hang: accept and never answer (client timeout tests).
// --host: the address to listen on (the node tier uses the pod bridge's, which pods reach).
// Prints {"port":N} on stdout once listening. GET /stats returns the counters.
'use strict';
const http = require('node:http');

function parseArgs(argv) {
  const o = { host: '127.0.0.1', retryAfterDate: -1, port: 0, capacity: 8, latencyMs: 0, retryAfter: '1', failFirst: 0, failStatus: 503, denyPod: '', hang: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const int = (v) => {
      if (!/^[0-9]+$/.test(v)) throw new Error(`${a} ${v}: want a non-negative integer`);
      return Number(v);
    };
    if (a === '--host') o.host = next();
    else if (a === '--port') o.port = int(next());
    else if (a === '--capacity') o.capacity = int(next());
    else if (a === '--latency-ms') o.latencyMs = int(next());
    else if (a === '--retry-after') o.retryAfter = next();
    else if (a === '--retry-after-date') o.retryAfterDate = int(next());
    else if (a === '--fail-first') o.failFirst = int(next());
    else if (a === '--fail-status') o.failStatus = int(next());
    else if (a === '--deny-pod') o.denyPod = next();
    else if (a === '--hang') o.hang = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.capacity < 1) throw new Error('--capacity must be at least 1');
  return o;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`authz-service: ${err.message}`);
  process.exit(64);
}

const stats = { capacity: opts.capacity, inFlight: 0, peakConcurrency: 0, peakAccepted: 0, requests: 0, rejected429: 0, failed: 0, denied: 0, badRequests: 0, registrations: 0, duplicates: 0, pods: {} };
let accepted = 0;
const t0 = performance.now();

function validBody(b) {
  return (
    b && typeof b === 'object' &&
    ['podUID', 'namespace', 'pod', 'podIP'].every((k) => typeof b[k] === 'string' && b[k] !== '') &&
    Array.isArray(b.ports) && b.ports.length > 0 && b.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)
  );
}

/** The Retry-After header, if any, for a 429/503 sent now. */
function retryAfter() {
  if (opts.retryAfterDate >= 0) return { 'retry-after': new Date(Date.now() + opts.retryAfterDate * 1000).toUTCString() };
  return opts.retryAfter === '' ? {} : { 'retry-after': opts.retryAfter };
}

function send(res, code, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') return send(res, 200, stats);
  if (req.method !== 'POST') return send(res, 405, { error: 'POST a registration' }, { allow: 'POST' });
  stats.requests++;
  stats.inFlight++;
  stats.peakConcurrency = Math.max(stats.peakConcurrency, stats.inFlight);
  let done = false;
  const finish = () => {
    if (!done) (done = true), stats.inFlight--;
  };
  res.on('close', finish);
  const uid = String(req.headers['idempotency-key'] ?? '');
  const pod = (stats.pods[uid] ??= { requests: 0, arrivalsMs: [], attempts: [], statuses: [] });
  pod.requests++;
  pod.arrivalsMs.push(Math.round(performance.now() - t0));
  pod.attempts.push(Number(req.headers['x-podhooks-attempt'] ?? 0));
  const answer = (code, body, headers) => {
    pod.statuses.push(code);
    send(res, code, body, headers);
  };
  if (stats.inFlight > opts.capacity) {
    stats.rejected429++;
    req.resume();
    return answer(429, { error: `over capacity (${opts.capacity} concurrent requests)` }, retryAfter());
  }
  accepted++;
  stats.peakAccepted = Math.max(stats.peakAccepted, accepted);
  res.on('close', () => accepted--);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (opts.hang) return;
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    setTimeout(() => {
      if (!validBody(body) || body.podUID !== uid) {
        stats.badRequests++;
        return answer(400, { error: 'want JSON {podUID, namespace, pod, podIP, ports[]} and Idempotency-Key equal to podUID' });
      }
      if (pod.requests <= opts.failFirst) {
        stats.failed++;
        return answer(opts.failStatus, { error: 'temporarily unavailable' }, retryAfter());
      }
      if (opts.denyPod && body.pod === opts.denyPod) {
        stats.denied++;
        return answer(403, { error: `pod ${body.namespace}/${body.pod} may not register ports ${body.ports.join(',')}` });
      }
      if (pod.registered) {
        stats.duplicates++;
        return answer(200, { status: 'registered', podUID: uid });
      }
      pod.registered = { podIP: body.podIP, ports: body.ports };
      stats.registrations++;
      answer(201, { status: 'registered', podUID: uid });
    }, opts.latencyMs);
  });
});
server.keepAliveTimeout = 1000;
server.listen(opts.port, opts.host, () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
