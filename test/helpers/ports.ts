// A loopback port that nothing listens on right now (for servers a test starts, or to
// provoke "connection refused"); or one on another local address (the node bridge).
// Chosen below the kernel's ephemeral range: a port from that range (what listen(0)
// gives) can be taken as the source port of an outgoing connection (the apiserver's to
// etcd, say) between the pick and the server's bind, which failed a run with EADDRINUSE.
import { readFileSync } from 'node:fs';
import * as net from 'node:net';

const LOWEST = 10000;

/** The first port of net.ipv4.ip_local_port_range (32768 where it cannot be read). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1000 ? first : 32768;
  } catch {
    return 32768;
  }
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const span = ephemeralStart() - LOWEST;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * span);
    if (await bindable(port, host)) return port;
  }
  throw new Error(`no free port on ${host} between ${LOWEST} and ${LOWEST + span} after 100 tries`);
}
