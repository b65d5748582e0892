// Latency at a fixed rate (default 1,000 req/s) over HTTPS keep-alive: requests are sent
// on schedule whether or not earlier ones have answered (no coordinated omission), and
// each latency is measured from its scheduled time. Prints one JSON line.
'use strict';
const https = require('node:https');
const { readFileSync } = require('node:fs');

const [url, listFile, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg ?? 1000);
const seconds = Number(secondsArg ?? 10);
const bodies = readFileSync(listFile, 'utf8').trim().split('\n').map((p) => readFileSync(p));
const target = new URL(url);
// 16 connections, opened before the clock starts: TLS handshakes are not what is measured.
const SOCKETS = 16;
const agent = new https.Agent({ keepAlive: true, maxSockets: SOCKETS, rejectUnauthorized: false });

const total = rate * seconds;
const latencies = new Float64Array(total);
let sent = 0;
let done = 0;
let failed = 0;
let start;

function send(i, scheduledNs) {
  const body = bodies[i % bodies.length];
  const req = https.request(
    { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
    (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) failed++;
        latencies[i] = Number(process.hrtime.bigint() - scheduledNs) / 1e6;
        if (++done === total) finish();
      });
    },
  );
  req.on('error', () => {
    failed++;
    latencies[i] = NaN;
    if (++done === total) finish();
  });
  req.end(body);
}

function tick() {
  const now = process.hrtime.bigint();
  const due = Math.min(total, Math.floor((Number(now - start) / 1e9) * rate) + 1);
  while (sent < due) {
    send(sent, start + BigInt(Math.round((sent / rate) * 1e9)));
    sent++;
  }
  if (sent < total) setImmediate(tick);
}

function finish() {
  const ok = Array.from(latencies).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const pct = (p) => ok[Math.min(ok.length - 1, Math.floor((p / 100) * ok.length))];
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ rate, requests: total, failed, achievedRate: total / elapsed, p50: pct(50), p99: pct(99), max: ok[ok.length - 1] }));
  agent.destroy();
}

function warmUp() {
  let open = 0;
  for (let i = 0; i < SOCKETS; i++) {
    const body = bodies[i % bodies.length];
    const req = https.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (++open === SOCKETS) {
          start = process.hrtime.bigint();
          tick();
        }
      });
    });
    req.on('error', (err) => {
      console.error(`paced: warm-up failed: ${err.message}`);
      process.exit(1);
    });
    req.end(body);
  }
}

warmUp();
