// A private etcd for tests (Debian's etcd-server): one member on 127.0.0.1, free ports, a fresh temp --data-dir,
// stopped and removed by stop(). restart() starts it again on the same ports and data (etcd down and back).
// A missing binary is an error that says to run .ci/install-system.sh, never a silent skip.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/harness/ports.js';
import { waitFor } from '../../bench/harness/wait.js';

const ETCD = '/usr/bin/etcd';

export interface EtcdServer {
  /** 127.0.0.1:PORT, the client port (and its v3 JSON gateway) */
  endpoint: string;
  /** etcd://127.0.0.1:PORT/PREFIX for a master's --ring-store */
  ringStore(prefix: string): string;
  dir: string;
  /** its output so far (for failure messages) */
  output(): string;
  /** SIGTERM, and waits for it to exit; keepData: restart() may start it again */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** starts it again on the same ports and data */
  restart(): Promise<void>;
}

export async function startEtcd(): Promise<EtcdServer> {
  if (!existsSync(ETCD)) throw new Error(`${ETCD} not found: run \`.ci/install-system.sh\` as root to install etcd-server (CI does this before the tests)`);
  const dir = await mkdtemp(join(tmpdir(), 'slowq-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${client}`;
  let out = '';
  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const p = spawn(ETCD, [
      '--name', 'test', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', `http://${endpoint}`, '--advertise-client-urls', `http://${endpoint}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `test=http://127.0.0.1:${peer}`, '--log-level', 'warn', '--logger', 'zap',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    const keep = (b: Buffer) => {
      out = (out + b.toString()).slice(-20_000);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    await waitFor('etcd to answer', async () => {
      if (p.exitCode !== null) throw new Error(`etcd exited with ${p.exitCode}: ${out.slice(-2000)}`);
      try {
        const res = await fetch(`http://${endpoint}/v3/kv/range`, { method: 'POST', body: '{"key":"AA=="}', signal: AbortSignal.timeout(1000) });
        return res.ok;
      } catch {
        return false;
      }
    }, 30_000, 100);
  };
  const stopProc = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    endpoint, dir,
    ringStore: (prefix) => `etcd://${endpoint}/${prefix}`,
    output: () => out,
    stop: async (opts = {}) => {
      await stopProc();
      if (!opts.keepData) await rm(dir, { recursive: true, force: true });
    },
    restart: start,
  };
}
