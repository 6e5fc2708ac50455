import type { ParserOptions } from '../../src/formats/parsers/index.js';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { readAlerts } from '../../bench/harness/files.js';
import { stopAll } from '../../bench/harness/processes.js';
import { sleep, waitFor } from '../../bench/harness/wait.js';
import { evaluateFiles } from '../../src/rules/evaluate.js';
import { DEFAULT_RULES, type RulesConfig } from '../../src/rules/rules.js';
import type { Alert } from '../../src/model/record.js';
import { generateLines } from '../../src/workload/generator.js';
import type { PipelineClient } from '../../bench/harness/pipeline.js';
import { ownerOf } from '../../src/model/rendezvous.js';

// What end-to-end tests compare the pipeline's output with: the oracle's alerts, alert id sets, and generated
// workload files. Starting, waiting for and reading the processes is the harness's job (bench/harness/).

/**
 * A temporary directory for a suite that starts processes: after the suite, every process still running is
 * stopped and the directory removed. Call it in a describe() body, or at the top of a file for the whole file.
 */
export function processTestDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** The oracle's alerts for one source's files. */
export async function oracle(files: string[], format: string, source: string, rules: RulesConfig = DEFAULT_RULES, parserOptions: ParserOptions = {}): Promise<Alert[]> {
  const all: Alert[] = [];
  await evaluateFiles(files, format, source, rules, (a) => all.push(...a), undefined, parserOptions);
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

/**
 * Waits until `alertsFile` holds as many distinct ids as `want` (within timeoutMs), lets a second pass for anything
 * more, then checks it holds exactly those ids, none twice.
 */
export async function expectAlertIds(alertsFile: string, want: Set<string>, timeoutMs: number): Promise<void> {
  await waitFor('all alerts', () => idSet(readAlerts(alertsFile)).size >= want.size, timeoutMs, 250);
  await sleep(1000);
  const got = readAlerts(alertsFile);
  assert.deepEqual(duplicateIds(got), []);
  assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });
}

/** A log file a test writes a generated workload into (moved to the harness: the benches use it too). */
export { WorkloadFile } from '../../bench/harness/workload-file.js';

/**
 * The load of a test that changes the consumer set (rescaleSources()): one log per source, generated whole up front
 * (the oracle's alerts from it), written phase by phase while the ring changes.
 */
export class RescaleLoad {
  readonly sources = rescaleSources();
  readonly files: string[];
  private readonly lines: string[][];
  /** records appended so far, all sources */
  written = 0;

  constructor(dir: string, private readonly perPhase: number, phases: number, seed: number) {
    this.lines = this.sources.map((s, i) => generateLines(phases * perPhase, { seed: seed + i, idPrefix: `${s}-` }));
    this.files = this.sources.map((s) => join(dir, `${s}.jsonl`));
  }

  /** The oracle's alert ids for the whole load; the logs are left empty for the clients to start on. */
  async oracleIds(): Promise<Set<string>> {
    const want = new Set<string>();
    for (let i = 0; i < this.sources.length; i++) {
      writeFileSync(this.files[i]!, this.lines[i]!.join('\n') + '\n');
      for (const a of await oracle([this.files[i]!], 'jsonl', this.sources[i]!)) want.add(a.id);
      writeFileSync(this.files[i]!, '');
    }
    return want;
  }

  /** One client per source, as the pipeline starts them. */
  clients(dir: string): PipelineClient[] {
    return this.sources.map((source, i) => ({ source, files: [this.files[i]!], format: 'jsonl', data: join(dir, `client-${source}`), args: ['--ack-timeout-ms', '1000'] }));
  }

  /** Appends phase `k` to every log: the records written so far. */
  appendPhase(k: number): number {
    for (let i = 0; i < this.sources.length; i++) appendFileSync(this.files[i]!, this.lines[i]!.slice(k * this.perPhase, (k + 1) * this.perPhase).join('\n') + '\n');
    this.written += this.sources.length * this.perPhase;
    return this.written;
  }
}

/** For a ring going from c0, c1 to c0, c1, c2: three sources, two that c2 wins (one from each of the others), one that stays. */
export function rescaleSources(): string[] {
  const two = ['c0', 'c1'];
  const three = ['c0', 'c1', 'c2'];
  const moving = new Map<string, string>();
  let staying: string | undefined;
  for (let i = 0; i < 1000 && (moving.size < 2 || !staying); i++) {
    const s = `db-${i}`;
    const before = ownerOf(s, two)!;
    if (ownerOf(s, three) === 'c2') {
      if (!moving.has(before)) moving.set(before, s);
    } else if (!staying) staying = s;
  }
  return [...moving.values(), staying!];
}
