import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

// Runs slowq services as child processes: restarts one that dies (with backoff, giving up loudly after
// repeated fast crashes), and stops them all, in order, on stop(). Used by `slowq up` and `slowq demo`.

export const CLI_PATH = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface ChildSpec {
  name: string;
  args: string[];
  /** receives each stdout line of the child (default: dropped) */
  onStdout?: (line: string) => void;
  /** it re-reads its configuration on SIGHUP: reload() passes SIGHUP on to it */
  reloads?: boolean;
}

export interface SupervisorOptions {
  /** receives each stderr line of every child, prefixed with its name */
  onStderr?: (line: string) => void;
  /** called whenever a child process starts (first start and restarts) */
  onSpawn?: (name: string, pid: number) => void;
  /** reports restarts and give-ups */
  onEvent?: (msg: string) => void;
  /** a child that ran shorter than this counts as a fast crash (default 5 s) */
  fastCrashMs?: number;
  /** fast crashes in a row before giving up on a child (default 5) */
  maxFastCrashes?: number;
  /** called once when the supervisor gives up on a child (after onEvent has said so) */
  onGiveUp?: (name: string) => void;
}

/**
 * Set in a child's environment: its stdin is a pipe from the supervisor, which closes when the supervisor
 * dies in any way (even SIGKILL); the child then stops itself (see follow-parent.ts) instead of living on
 * as an orphan that holds its ports and state directory against the next `slowq up`.
 */
export const SUPERVISED_ENV = 'SLOWQ_SUPERVISED';

interface Running {
  spec: ChildSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  fastCrashes: number;
  restartTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  gaveUp: boolean;
}

export class Supervisor {
  private readonly children = new Map<string, Running>();
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions = {}) {}

  /** Starts children in the given order. */
  start(specs: ChildSpec[]): void {
    for (const spec of specs) {
      const r: Running = { spec, child: undefined, startedAt: 0, fastCrashes: 0, restartTimer: undefined, exited: Promise.resolve(), gaveUp: false };
      this.children.set(spec.name, r);
      this.launch(r);
    }
  }

  pid(name: string): number | undefined {
    return this.children.get(name)?.child?.pid;
  }

  names(): string[] {
    return [...this.children.keys()];
  }

  /**
   * Passes SIGHUP on to the running children that reload their configuration on it; returns their names. A
   * child being restarted reads the file anew when it starts.
   */
  reload(): string[] {
    const sent: string[] = [];
    if (this.stopping) return sent;
    for (const r of this.children.values()) {
      const child = r.child;
      if (!r.spec.reloads || !child || child.exitCode !== null || child.signalCode !== null) continue;
      if (child.kill('SIGHUP')) sent.push(r.spec.name);
    }
    return sent;
  }

  /** Stops children in reverse start order: SIGTERM, then SIGKILL after the grace time. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const list = [...this.children.values()].reverse();
    for (const r of list) if (r.restartTimer) clearTimeout(r.restartTimer);
    for (const r of list) {
      const child = r.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await r.exited;
      clearTimeout(killer);
    }
  }

  private launch(r: Running): void {
    const child = spawn(process.execPath, [CLI_PATH, ...r.spec.args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, [SUPERVISED_ENV]: '1' },
    });
    r.child = child;
    r.startedAt = Date.now();
    r.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      // a process that could not be started at all never emits 'exit'
      child.once('error', () => {
        if (child.pid === undefined) resolve();
      });
    });
    child.stdin!.on('error', () => {}); // EPIPE once the child is gone: nothing is ever written to it
    if (child.pid !== undefined) this.opts.onSpawn?.(r.spec.name, child.pid);
    if (r.spec.onStdout) {
      const onLine = r.spec.onStdout;
      createInterface({ input: child.stdout! }).on('line', onLine);
    } else child.stdout!.resume();
    const onErr = this.opts.onStderr;
    if (onErr) createInterface({ input: child.stderr! }).on('line', (l) => onErr(`[${r.spec.name}] ${l}`));
    else child.stderr!.resume();
    child.on('error', (err) => {
      this.opts.onEvent?.(`${r.spec.name}: could not start: ${err.message}`);
      if (child.pid === undefined) this.onExit(r, null, null);
    });
    child.once('exit', (code, signal) => this.onExit(r, code, signal));
  }

  private onExit(r: Running, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    const ranMs = Date.now() - r.startedAt;
    r.fastCrashes = ranMs < (this.opts.fastCrashMs ?? 5000) ? r.fastCrashes + 1 : 0;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (r.fastCrashes >= (this.opts.maxFastCrashes ?? 5)) {
      r.gaveUp = true;
      this.opts.onEvent?.(`${r.spec.name} died (${how}) ${r.fastCrashes} times in a row within seconds of starting; giving up on it`);
      this.opts.onGiveUp?.(r.spec.name);
      return;
    }
    const delay = Math.min(100 * 2 ** r.fastCrashes, 10_000);
    this.opts.onEvent?.(`${r.spec.name} died (${how}); restarting in ${delay} ms`);
    r.restartTimer = setTimeout(() => {
      r.restartTimer = undefined;
      if (!this.stopping) this.launch(r);
    }, delay);
  }
}
