// A small HTTP server on the node bridge's address (the only host address pods reach):
// pods POST events to /events (form fields), and poll /gate/NAME, which answers 503
// until the test opens that gate. Stopped by the test.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually } from '../../e2e/harness/webhooks';
import { BRIDGE_IP } from './node';

export interface HostServer {
  /** http://BRIDGE_IP:PORT */
  url: string;
  events: Record<string, string>[];
  /** When each event arrived (Date.now(), same index as `events`): pods' requests are synchronous, so arrival order is their order. */
  receivedAt: number[];
  waitForEvent(pred: (e: Record<string, string>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, string>>;
  open(gate: string): void;
  stop(): Promise<void>;
}

export async function startHostServer(): Promise<HostServer> {
  const events: Record<string, string>[] = [];
  const receivedAt: number[] = [];
  const open = new Set<string>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname === '/events') {
        events.push(Object.fromEntries(new URLSearchParams(body)));
        receivedAt.push(Date.now());
        res.end('ok\n');
      } else if (url.pathname.startsWith('/gate/')) {
        const gate = url.pathname.slice('/gate/'.length);
        res.statusCode = open.has(gate) ? 200 : 503;
        res.end(open.has(gate) ? 'open\n' : 'closed\n');
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, BRIDGE_IP, resolve));
  const url = `http://${BRIDGE_IP}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    events,
    receivedAt,
    waitForEvent: (pred, what, timeoutMs = 60_000) => eventually(what, async () => events.find(pred), timeoutMs),
    open: (gate) => void open.add(gate),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
