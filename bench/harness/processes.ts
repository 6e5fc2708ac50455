import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Child processes for the tests and the benches: the slowq CLI (or any program) with its output kept, stopped
// by SIGTERM or SIGKILL, and all of them killed when this process exits, so a failed test or bench never
// leaves services running.

/** The CLI's entry point: compiled, this file is dist/bench/harness/processes.js. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Proc {
  name: string;
  child: ChildProcess;
  /** the last 64 KiB or more of stdout and stderr together */
  output(): string;
  /** resolves with the exit code (null when a signal ended it) */
  exited: Promise<number | null>;
  /** resolves once `text` was printed (stdout or stderr); rejects if the process exits first or after timeoutMs */
  waitForOutput(text: string, timeoutMs: number): Promise<void>;
}

const KEEP_OUTPUT = 64 * 1024;

/** Started and not yet exited. */
const running = new Set<Proc>();
process.once('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});

export function startProcess(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  // SLOWQ_BENCH_OUTPUT_DIR=DIR: every child's whole output also in DIR/NAME-PID.log (with --trace-gc in
  // SLOWQ_BENCH_NODE_ARGS, say: what the last 64 KiB kept here would lose)
  const outputDir = process.env.SLOWQ_BENCH_OUTPUT_DIR;
  const outputFile = outputDir ? join(outputDir, `${name}-${child.pid}.log`) : undefined;
  const keep = (d: Buffer) => {
    if (outputFile) appendFileSync(outputFile, d);
    out += d.toString();
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (out.includes(waiters[i]!.text)) {
        waiters[i]!.resolve();
        waiters.splice(i, 1);
      }
    }
    if (out.length > 2 * KEEP_OUTPUT) out = out.slice(-KEEP_OUTPUT);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p: Proc = {
    name,
    child,
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
  running.add(p);
  void exited.then(() => running.delete(p));
  return p;
}

/**
 * `node dist/src/cli/main.js ARGS` as a child. $SLOWQ_BENCH_NODE_ARGS is put before the script, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile every process of a run (NODE_OPTIONS refuses --cpu-prof).
 * `prefix` is a command that runs it, e.g. ['ip', 'netns', 'exec', NS] to run it in a network namespace (it must
 * exec the command, so that the child's pid is the service's).
 */
export function slowq(name: string, args: string[], env?: NodeJS.ProcessEnv, prefix: readonly string[] = []): Proc {
  const nodeArgs = (process.env.SLOWQ_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const command = [...prefix, process.execPath, ...nodeArgs, CLI, ...args];
  return startProcess(name, command[0]!, command.slice(1), env);
}

export function hasExited(p: Proc): boolean {
  return p.child.exitCode !== null || p.child.signalCode !== null;
}

/** SIGTERM (then SIGKILL after graceMs) and wait for the exit; resolves with the exit code. */
export async function stop(p: Proc, graceMs = 10_000): Promise<number | null> {
  if (hasExited(p)) return p.child.exitCode;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

export async function kill9(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

/** Stops whatever is still running (a test's after(), a bench's finally). */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...running].map((p) => stop(p, graceMs)));
}

/** Whether a process with this pid runs (a zombie, exited but not yet reaped, counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The pid `slowq up --data DATA` last started its service `name` with (DATA/run/NAME.pid), if any. */
export function upServicePid(data: string, name: string): number | undefined {
  try {
    const n = Number(readFileSync(join(data, 'run', `${name}.pid`), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
