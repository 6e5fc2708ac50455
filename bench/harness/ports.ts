import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Free loopback ports for the processes a test or bench starts: one port the system picks, or a base port
// with the N ports from it free (a pipeline lays its services out on BASE, BASE+1, …, as `slowq up` does).

/** Whether `port` can be listened on at 127.0.0.1 now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port free now (the system's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface BasePortOptions {
  /** how many consecutive ports must be free (default 5: a pipeline and the monitor's HTTP) */
  count?: number;
  /** tried first (e.g. the user's --port) */
  preferred?: number;
  /** where random candidates come from (default Math.random; a seeded one keeps a run reproducible) */
  random?: () => number;
}

/**
 * The lowest port of the kernel's ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768 by
 * default). Outgoing connections take their local port from that range at any moment — a client's to etcd, a
 * ZeroMQ peer's reconnect — so a port found free there can be taken before the service that was meant to bind it
 * does ("Address already in use"). Base ports are picked below it.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * A base port with BASE..BASE+count-1 free on loopback: the preferred one, else a random multiple of 10 from 20000
 * up to below the ephemeral range (20000..49990 where that range starts higher), with room above it for a second
 * master's ports (BASE+10, BASE+11).
 */
export async function freeBasePort(opts: BasePortOptions = {}): Promise<number> {
  const count = opts.count ?? 5;
  const random = opts.random ?? Math.random;
  // bases 20000, 20010, …: the last one's ports up to BASE+19 stay below the ephemeral range
  const candidates = Math.max(1, Math.min(3_000, Math.floor((ephemeralLow() - 20_000 - 20) / 10) + 1));
  for (let i = opts.preferred ? -1 : 0; i < 100; i++) {
    const base = i < 0 ? opts.preferred! : 20_000 + Math.floor(random() * candidates) * 10;
    let ok = true;
    for (let k = 0; k < count && ok; k++) ok = await portFree(base + k);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive loopback ports`);
}
