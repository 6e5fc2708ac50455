import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFile } from '../src/formats/read-file.js';
import { evaluateFiles } from '../src/rules/evaluate.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import { writeMySqlSlowLog } from '../src/workload/mysql-slow-generator.js';
import { clientCpuMs, DESIGN_B, SOURCE, throughputRun, type RunResult } from './e2e.js';
import { flushDirtyPages } from './harness/disk.js';
import type { Pipeline } from './harness/pipeline.js';
import { MiB, type BenchReport, type Cell } from './output.js';
import { writeJsonl, writePostgresCsvLog, writePostgresJsonLog, writePostgresLog } from './parse.js';

// `slowq bench formats`: every input format through the real pipeline (one client, two consumers, fsync on), the
// client shipping records (it parses) and raw chunks (the consumers parse: design B), beside the oracle (`slowq
// evaluate`) on the same file, in one run: what each way costs the database host (the client's CPU per event) and
// what it gives end to end. The logs hold the same statements (bench/parse.ts writes them as each format would).

export interface FormatsOptions {
  /** bytes of each generated log (default 32 MiB) */
  bytes?: number;
  formats?: string[];
  dir?: string;
  port?: number;
}

/**
 * Each format's log, then two lines that are no query (a log goes on): the last statement is then complete without
 * waiting for the client's idle flush (1 s, which would be most of a short run), in both ways of shipping. A record
 * path client emits a statement when the next message starts; a chunk path client cuts before the last line it has,
 * and the consumer's parser, carrying its state, emits the statement when the next message starts.
 */
const WRITERS: Record<string, (path: string, bytes: number) => void> = {
  'mysql-slow': (p, bytes) => {
    writeMySqlSlowLog(p, { bytes }, { flavor: 'mysql', seed: 5 });
    appendFileSync(p, '# Time: 2030-01-01T00:00:00.000000Z\n');
  },
  postgres: (p, bytes) => {
    writePostgresLog(p, bytes);
    appendFileSync(p, '2030-01-01 00:00:00.000 UTC [1] LOG:  checkpoint starting: time\n'.repeat(2));
  },
  'postgres-csv': (p, bytes) => {
    writePostgresCsvLog(p, bytes);
    appendFileSync(p, '2030-01-01 00:00:00.000 UTC,,,1,,6b1.1,1,,,,0,LOG,00000,"checkpoint starting: time",,,,,,,,,"","checkpointer",,0\n'.repeat(2));
  },
  'postgres-json': (p, bytes) => {
    writePostgresJsonLog(p, bytes);
    appendFileSync(p, '{"timestamp":"2030-01-01 00:00:00.000 UTC","pid":1,"error_severity":"LOG","message":"checkpoint starting: time","backend_type":"checkpointer"}\n'.repeat(2));
  },
  jsonl: (p, bytes) => {
    writeJsonl(p, bytes);
    appendFileSync(p, '\n'); // a blank line: no record
  },
};

interface FormatRun {
  format: string;
  events: number;
  oracleEvps: number;
  records: RunResult;
  chunks: RunResult;
}

const clientCpuUs = (r: RunResult): number => (clientCpuMs(r) * 1000) / r.entries;

export async function benchFormats(opts: FormatsOptions = {}): Promise<BenchReport> {
  const bytes = opts.bytes ?? 32 * MiB;
  const formats = opts.formats ?? Object.keys(WRITERS);
  for (const f of formats) if (!Object.hasOwn(WRITERS, f)) throw new Error(`bench formats: unknown format "${f}" (known: ${Object.keys(WRITERS).join(', ')})`);
  const root = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-formats-'));
  const runs: FormatRun[] = [];
  let running: Pipeline | undefined;
  const progress = (l: string) => process.stderr.write(`slowq bench formats: ${l}\n`);
  try {
    for (const format of formats) {
      const path = join(root, `log.${format}`);
      WRITERS[format]!(path, bytes);
      flushDirtyPages();
      const events = (await parseFile(path, format, () => {})).events;
      progress(`${format}: ${events} events, oracle`);
      let alerts = 0;
      const t0 = performance.now();
      await evaluateFiles([path], format, SOURCE, DEFAULT_RULES, (a) => (alerts += a.length));
      const oracleEvps = (events / (performance.now() - t0)) * 1000;
      const log = [{ path, entries: events, bytes: statSync(path).size }];
      const run = async (what: string, clientArgs: string[]): Promise<RunResult> => {
        progress(`${format}: pipeline, ${what}`);
        const { server, ...r } = await throughputRun(`${format}, ${what}`, join(root, `run-${format}-${what}`), log, { consumers: 2, fsync: true, port: opts.port, expectAlerts: alerts, format, clientArgs });
        running = server;
        await server?.stop();
        running = undefined;
        rmSync(join(root, `run-${format}-${what}`), { recursive: true, force: true });
        return r;
      };
      runs.push({ format, events, oracleEvps, records: await run('records', []), chunks: await run('chunks', DESIGN_B) });
      rmSync(path, { force: true });
    }
  } finally {
    if (running) await (running as Pipeline).stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
  const rows: Cell[][] = runs.map((r) => [
    r.format, r.events, Math.round(r.oracleEvps),
    Math.round(r.records.eventsPerSec), r.records.eventsPerSec / r.oracleEvps, clientCpuUs(r.records),
    Math.round(r.chunks.eventsPerSec), r.chunks.eventsPerSec / r.oracleEvps, clientCpuUs(r.chunks),
    clientCpuUs(r.records) / clientCpuUs(r.chunks),
  ]);
  return {
    bench: 'formats',
    tables: [{
      title: `Every format through the pipeline (1 client, 2 consumers, fsync on): records vs raw chunks, ${(bytes / MiB).toFixed(bytes < MiB ? 2 : 0)} MiB generated log each`,
      columns: ['format', 'events', 'oracle events/s', 'records: events/s', '× oracle', 'client CPU µs/event', 'chunks: events/s', '× oracle', 'client CPU µs/event', 'client CPU records ÷ chunks'],
      rows,
      notes: [
        'oracle: `slowq evaluate` (parse + rules, one process) on the same file; pipeline rows timed from the client\'s first read to the last ack or the last alert written, whichever is later',
        'client CPU µs/event × 10,000 / 10^4 = % of one core the client needs per 10,000 events/s on the database host',
        'the logs hold the same generated statements, written as each format would hold them (bench/parse.ts)',
        `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`,
      ],
    }],
    charts: [{ name: 'formats-client-cpu', title: 'Client CPU µs per event, records and raw chunks, per format (lower is better)', unit: 'µs/ev', bars: runs.flatMap((r) => [
      { label: `${r.format}, records`, value: clientCpuUs(r.records) }, { label: `${r.format}, chunks`, value: clientCpuUs(r.chunks) },
    ]) }],
    data: { runs },
  };
}
