import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { evaluateFiles } from '../../src/rules/evaluate.js';
import { DEFAULT_RULES, type RulesConfig } from '../../src/rules/rules.js';
import type { Alert } from '../../src/model/record.js';
import { WorkloadGenerator, type WorkloadOptions } from '../../src/workload/generator.js';

// Real processes for end-to-end tests: the slowq CLI as children, on loopback ports, and helpers to
// wait for and read what they produce.

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const running = new Set<Proc>();

export function slowq(name: string, args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p: Proc = { name, child, output: () => out, exited };
  running.add(p);
  void exited.then(() => running.delete(p));
  return p;
}

/** SIGTERM (then SIGKILL after graceMs) and wait for the exit. */
export async function stop(p: Proc, graceMs = 10_000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
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

/** Kills whatever a test left running (call in after()). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => stop(p, 3000)));
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port with BASE..BASE+4 free on loopback. */
export async function freeBase(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 2_000) * 10;
    let ok = true;
    for (let k = 0; k < 5 && ok; k++) ok = await portFree(base + k);
    if (ok) return base;
  }
  throw new Error('no free ports');
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const out: T[] = [];
  for (const line of text.split('\n')) if (line.trim()) out.push(JSON.parse(line) as T);
  return out;
}

export function readAlerts(path: string): Alert[] {
  return readJsonLines<Alert>(path);
}

export function readStats<T = Record<string, number>>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The oracle's alerts for one source's files. */
export async function oracle(files: string[], format: string, source: string, rules: RulesConfig = DEFAULT_RULES): Promise<Alert[]> {
  const all: Alert[] = [];
  await evaluateFiles(files, format, source, rules, (a) => all.push(...a));
  return all;
}

/** Ids written more than once. */
export function duplicateIds(alerts: Alert[]): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const a of alerts) {
    if (seen.has(a.id)) dups.push(a.id);
    seen.add(a.id);
  }
  return dups;
}

export function idSet(alerts: Alert[]): Set<string> {
  return new Set(alerts.map((a) => a.id));
}

/** Which ids are in one set and not the other (for readable assertion messages). */
export function diffIds(got: Set<string>, want: Set<string>): { missing: number; extra: number } {
  let missing = 0;
  let extra = 0;
  for (const id of want) if (!got.has(id)) missing++;
  for (const id of got) if (!want.has(id)) extra++;
  return { missing, extra };
}

/** A log file a test writes a generated workload into, phase by phase, counting the records written. */
export class WorkloadFile {
  written = 0;
  private readonly gen: WorkloadGenerator;

  constructor(readonly path: string, opts: WorkloadOptions) {
    this.gen = new WorkloadGenerator(opts);
  }

  append(records: number): void {
    let text = '';
    for (let i = 0; i < records; i++) text += JSON.stringify(this.gen.next()) + '\n';
    appendFileSync(this.path, text);
    this.written += records;
  }
}
