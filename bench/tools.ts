import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// What the process-level benches share: finding tools, running slowq services as children that are always
// stopped (even when the bench fails), free loopback ports, and per-process CPU time and peak RSS from /proc.

export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** pt-query-digest's path if it is on PATH and executable (it is optional). */
export function ptQueryDigestPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'pt-query-digest');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcSample {
  /** user + system CPU time so far, ms */
  cpuMs: number;
  /** peak resident set size, bytes (VmHWM) */
  peakRss: number;
}

/** CPU time and peak RSS of a live process (Linux /proc); undefined if it is gone or /proc is not there. */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return { cpuMs, peakRss: m ? Number(m[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}

export interface Child {
  name: string;
  proc: ChildProcess;
  /** the last 64 KiB of stdout and stderr */
  output(): string;
  exited: Promise<number | null>;
  /** resolves once a line containing `text` was printed (stdout or stderr) */
  waitForOutput(text: string, timeoutMs: number): Promise<void>;
}

/** Children started by the benches; all stopped by stopAll() and, as a last resort, on process exit. */
const children = new Set<Child>();
process.once('exit', () => {
  for (const c of children) c.proc.kill('SIGKILL');
});

export function startChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const keep = (d: Buffer) => {
    out += d.toString();
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (out.includes(waiters[i]!.text)) {
        waiters[i]!.resolve();
        waiters.splice(i, 1);
      }
    }
    if (out.length > 128 * 1024) out = out.slice(-64 * 1024);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child: Child = {
    name,
    proc,
    output: () => out,
    exited,
    waitForOutput: (text, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`${name}: no "${text}" after ${timeoutMs} ms; output:\n${out.slice(-2000)}`)), timeoutMs);
        waiters.push({ text, resolve: () => { clearTimeout(timer); resolve(); } });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code}) before printing "${text}"; output:\n${out.slice(-2000)}`));
        });
      }),
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/**
 * `node dist/src/cli/main.js ARGS` as a child. $SLOWQ_BENCH_NODE_ARGS is put before the script, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile every process of a run (NODE_OPTIONS refuses --cpu-prof).
 */
export function slowqChild(name: string, args: string[]): Child {
  const nodeArgs = (process.env.SLOWQ_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return startChild(name, process.execPath, [...nodeArgs, CLI, ...args]);
}

/** SIGTERM, then SIGKILL after graceMs; resolves with the exit code. */
export async function stopChild(c: Child, graceMs = 5000): Promise<number | null> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return c.proc.exitCode;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  const code = await c.exited;
  clearTimeout(t);
  return code;
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, 3000)));
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port with BASE..BASE+4 free on loopback. */
export async function freeBasePort(preferred?: number): Promise<number> {
  const candidates = preferred ? [preferred] : [];
  for (let i = 0; i < 50; i++) candidates.push(30_000 + Math.floor(Math.random() * 2_000) * 10);
  for (const base of candidates) {
    let ok = true;
    for (let k = 0; k < 5 && ok; k++) ok = await portFree(base + k);
    if (ok) return base;
  }
  throw new Error('no free loopback ports');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a value, or throws after timeoutMs. */
export async function waitUntil<T>(what: string, probe: () => T | undefined | false, timeoutMs: number, everyMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
