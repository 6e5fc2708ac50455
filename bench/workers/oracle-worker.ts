import { parentPort, workerData } from 'node:worker_threads';
import { evaluateFiles } from '../../src/rules/evaluate.js';
import { DEFAULT_RULES } from '../../src/rules/rules.js';

// One copy of the oracle (`slowq evaluate`'s work: parse + rules, one thread) for bench/capacity.ts: it loads,
// says ready, waits for "go" (so that copies running at once start together), runs over the file and answers
// with its wall-clock start and end on the process's shared clock.

export interface OracleJob {
  file: string;
  source: string;
}

export interface OracleDone {
  events: number;
  /** performance.timeOrigin + performance.now(), ms: comparable across threads */
  start: number;
  end: number;
}

const job = workerData as OracleJob;
const now = () => performance.timeOrigin + performance.now();

parentPort!.once('message', () => {
  const start = now();
  void evaluateFiles([job.file], 'mysql-slow', job.source, DEFAULT_RULES, () => {}).then((r) => {
    const done: OracleDone = { events: r.records, start, end: now() };
    parentPort!.postMessage(done);
  });
});
parentPort!.postMessage('ready');
