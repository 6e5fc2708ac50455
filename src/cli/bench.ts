import type { Command } from 'commander';
import { intOption } from './common.js';

// `slowq bench serialization|logging|snapshot|parse|e2e|all|chaos|rescale`: the benchmark harness in bench/ (one module per
// bench). Tables on stdout (progress on stderr), --json for machines, --svg DIR for charts. Every size and
// duration is an option; the defaults keep `slowq bench all` within a few minutes on two cores, and --smoke
// makes everything tiny (CI runs each bench that way: it checks they run, never how fast).

const BENCHES = ['serialization', 'logging', 'snapshot', 'parse', 'e2e'] as const;
/**
 * chaos is a fault-injection run (bench/chaos.ts; with --hosts the network faults on a network-namespace bed:
 * bench/chaos-hosts.ts), rescale the throughput across a change of the consumer set, burst an alert storm on the
 * monitor, classes what query classes cost, steady the rules over a long stretch of event time: not part of `all`
 */
const EXTRA = ['chaos', 'rescale', 'burst', 'design', 'spread', 'formats', 'classes', 'steady'] as const;
type BenchName = (typeof BENCHES)[number] | (typeof EXTRA)[number];

interface BenchFlags {
  json?: boolean;
  svg?: string;
  smoke?: boolean;
  size?: string;
  parseSize?: string;
  parsePasses?: string;
  rssSize?: string;
  slowFraction?: string;
  clients?: string;
  consumers?: string;
  rate?: string;
  latencySeconds?: string;
  openQueries?: string;
  naiveSeconds?: string;
  pt: boolean;
  fsyncRow: boolean;
  records?: string;
  iterations?: string;
  port?: string;
  formats?: string;
  dir?: string;
  faults?: string;
  seed?: string;
  alertRate?: string;
  seconds?: string;
  classes?: string;
  minutes?: string;
  hosts?: boolean;
  cutSeconds?: string;
  windowSeconds?: string;
}

const MiB = 1 << 20;

const num = (v: string | undefined, name: string, dflt: number, smoke: number, isSmoke: boolean): number =>
  v !== undefined ? intOption(v, name) : isSmoke ? smoke : dflt;

function fraction(v: string, name: string): number {
  const x = Number(v);
  if (!(x >= 0 && x <= 1)) throw new Error(`${name} must be a number from 0 to 1, got "${v}"`);
  return x;
}

async function run(name: BenchName, f: BenchFlags) {
  const s = f.smoke === true;
  const dir = f.dir ? { dir: f.dir } : {};
  const port = f.port ? { port: intOption(f.port, '--port') } : {};
  // the bench modules live outside src/ and are loaded only when asked for
  switch (name) {
    case 'serialization': {
      const { benchSerialization } = await import('../../bench/serialization.js');
      return benchSerialization(s ? { singles: 200, listSize: 100, repeats: 2 } : {});
    }
    case 'logging': {
      const { benchLogging } = await import('../../bench/logging.js');
      return benchLogging({ records: num(f.records, '--records', 2000, 50, s), processes: s ? 2 : 4, ...dir, ...port });
    }
    case 'snapshot': {
      const { benchSnapshot } = await import('../../bench/snapshot.js');
      return benchSnapshot(s
        ? { iterations: 5, sizes: [1024, 4096], openQueries: [0, 100], requests: 3, batch: 50, ...dir }
        : { iterations: num(f.iterations, '--iterations', 1000, 5, s), ...dir });
    }
    case 'parse': {
      const { benchParse } = await import('../../bench/parse.js');
      return benchParse({ bytes: num(f.parseSize, '--parse-size', 32, 0, s) * MiB || 256 * 1024, passes: num(f.parsePasses, '--parse-passes', 3, 1, s), pt: f.pt, ...dir });
    }
    case 'e2e': {
      const { benchE2e } = await import('../../bench/e2e.js');
      return benchE2e({
        bytes: num(f.size, '--size', 64, 0, s) * MiB || 512 * 1024,
        rssBytes: num(f.rssSize, '--rss-size', 1024, 0, s) * MiB,
        ...(f.slowFraction !== undefined && { slowFraction: fraction(f.slowFraction, '--slow-fraction') }),
        clients: num(f.clients, '--clients', 1, 1, s),
        consumers: num(f.consumers, '--consumers', 2, 2, s),
        rate: num(f.rate, '--rate', 20_000, 2000, s),
        latencySeconds: num(f.latencySeconds, '--latency-seconds', 5, 1, s),
        openQueries: num(f.openQueries, '--open-queries', 100_000, 1000, s),
        naiveSeconds: num(f.naiveSeconds, '--naive-seconds', 5, 1, s),
        pt: f.pt && !s,
        noFsyncRow: f.fsyncRow,
        ...dir,
        ...port,
      });
    }
    case 'design': {
      const { benchDesign } = await import('../../bench/design.js');
      return benchDesign(s ? { bytes: 512 * 1024, repeats: 1, chunkBytes: 64 * 1024, ...dir } : { bytes: num(f.parseSize, '--parse-size', 32, 0, s) * MiB, ...dir });
    }
    case 'spread': {
      const { benchSpread } = await import('../../bench/spread.js');
      return benchSpread(s ? { bytes: 1 * MiB, threads: [0, 1, 2], chunkBytes: 64 * 1024, ...dir } : { bytes: num(f.parseSize, '--parse-size', 64, 0, s) * MiB, ...dir });
    }
    case 'formats': {
      const { benchFormats } = await import('../../bench/formats.js');
      // smoke: two formats (one of each kind of cut), to keep CI short
      const formats = f.formats?.split(',').map((x) => x.trim()).filter(Boolean);
      return benchFormats({ ...(s ? { bytes: 256 * 1024, formats: ['mysql-slow', 'postgres'] } : { bytes: num(f.parseSize, '--parse-size', 32, 0, s) * MiB }), ...(formats && { formats }), ...dir, ...port });
    }
    case 'rescale': {
      const { benchRescale } = await import('../../bench/rescale.js');
      return benchRescale({
        rate: num(f.rate, '--rate', 4000, 400, s),
        sources: num(f.clients, '--clients', 4, 3, s),
        windowMs: num(f.windowSeconds, '--window-seconds', 20, 3, s) * 1000,
        ...dir,
        ...port,
      });
    }
    case 'burst': {
      const { benchAlertBurst } = await import('../../bench/alert-burst.js');
      return benchAlertBurst({
        rate: num(f.alertRate, '--alert-rate', 10_000, 1000, s),
        seconds: num(f.seconds, '--seconds', 5, 1, s),
        ...dir,
        ...port,
      });
    }
    case 'classes': {
      const { benchClasses } = await import('../../bench/classes.js');
      return benchClasses({ classes: num(f.classes, '--classes', 10_000, 500, s), minutes: num(f.minutes, '--minutes', 130, 15, s) });
    }
    case 'steady': {
      const { benchSteady } = await import('../../bench/steady.js');
      return benchSteady({
        minutes: num(f.minutes, '--minutes', 30, 12, s),
        rate: num(f.rate, '--rate', 1000, 100, s),
        slowFraction: f.slowFraction !== undefined ? fraction(f.slowFraction, '--slow-fraction') : 0.1,
        windowMinutes: s ? 4 : 5,
      });
    }
    case 'chaos': {
      if (f.hosts) {
        const { benchHostsChaos } = await import('../../bench/chaos-hosts.js');
        return benchHostsChaos({
          cutMs: num(f.cutSeconds, '--cut-seconds', 20, 2, s) * 1000,
          latencyMs: num(f.latencySeconds, '--latency-seconds', 60, 2, s) * 1000,
          rate: num(f.rate, '--rate', 500, 200, s),
          ...dir,
        });
      }
      const { benchChaos } = await import('../../bench/chaos.js');
      return benchChaos({
        records: num(f.records, '--records', 500_000, 20_000, s),
        clients: num(f.clients, '--clients', 4, 2, s),
        consumers: num(f.consumers, '--consumers', 2, 2, s),
        faults: num(f.faults, '--faults', 20, 5, s),
        seed: num(f.seed, '--seed', Date.now() % 1_000_000, 1, s),
        // as in test/chaos: a source whose clock steps ahead, and a stray consumer beside c0
        clockStepEvery: 5000,
        strayConsumerMs: 4000,
        ...dir,
      });
    }
  }
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('measure slowq: serialization, logging, snapshot, parse, e2e (the whole pipeline against its baselines), or all')
    .argument('<which>', `${BENCHES.join('|')}|all, or chaos (SIGKILLs under load, checked against the oracle; --hosts: network faults between hosts, as root), or rescale (throughput across a scale-out and a scale-in), or burst (an alert storm on the monitor), or design (stage costs of the two ways to parse one file on every core), or spread (one file through a consumer's intake with 0, 1, 2 … parse threads), or formats (every format through the pipeline, records vs raw chunks: client CPU), or classes (what query classes cost a consumer), or steady (the rules over a long stretch of event time, window by window)`)
    .option('--json', 'print the results as JSON instead of tables')
    .option('--svg <dir>', 'also write an SVG chart per bench into DIR')
    .option('--smoke', 'tiny sizes everywhere: checks that the benches run (CI), measures nothing worth reading')
    .option('--size <MiB>', 'e2e: generated slow log per client, MiB (default 64)')
    .option('--rss-size <MiB>', 'e2e: log for the client peak-RSS run, MiB (default 1024; 0 skips it)')
    .option('--slow-fraction <f>', 'e2e: share of the generated entries that are slow queries, each an alert (default 0.02; 1: a server logging at the alert threshold); steady: share of slow records (default 0.1)')
    .option('--clients <k>', 'e2e: clients, one source and one log each (default 1; chaos: 4; rescale: 4, at least 3)')
    .option('--consumers <m>', 'e2e and chaos: consumers (default 2)')
    .option('--rate <events/s>', 'e2e: offered rate of the latency run (default 20000); rescale: offered load (default 4000); chaos --hosts: offered load (default 500); steady: records per second of event time (default 1000)')
    .option('--latency-seconds <s>', 'e2e: length of the latency run (default 5; 0 skips it); chaos --hosts: 200 ms latency with 5% loss on every link for this long (default 60)')
    .option('--hosts', 'chaos: the network faults of a multi-host deployment instead, on a network-namespace bed (needs root): link cuts, latency and loss, a host\'s power loss, a partition, a master killed')
    .option('--cut-seconds <s>', 'chaos --hosts: length of each cut, partition, master\'s or host\'s death (default 20)')
    .option('--window-seconds <s>', 'rescale: length of the windows before and after each change (default 20)')
    .option('--open-queries <n>', 'e2e: open queries in state for the large-state run and the restart (default 100000; 0 skips)')
    .option('--naive-seconds <s>', 'e2e: how long the naive per-record baseline runs (default 5)')
    .option('--parse-size <MiB>', 'parse, design and formats: generated file per format, MiB (default 32); spread: each generated log (default 64)')
    .option('--parse-passes <n>', 'parse: timed passes over each file, the row their median (default 3)')
    .option('--records <n>', 'logging: records per process (default 2000); chaos: records in all (default 500000)')
    .option('--faults <n>', 'chaos: SIGKILLs to inject (default 20)')
    .option('--seed <n>', 'chaos: seed of the records and the victims (default: from the clock; printed)')
    .option('--iterations <n>', 'snapshot: overwrites per size (default 1000)')
    .option('--alert-rate <n>', 'burst: alerts per second offered to the monitor (default 10000)')
    .option('--seconds <s>', 'burst: how long the burst lasts (default 5)')
    .option('--classes <n>', 'classes: query classes of one source (default 10000)')
    .option('--minutes <n>', 'classes: minutes of event time, one record per class each (default 130: a full history); steady: minutes of event time (default 30)')
    .option('--no-pt', 'do not run pt-query-digest even if installed')
    .option('--no-fsync-row', 'e2e: skip the (labelled) run without fsync')
    .option('--port <base>', 'preferred loopback base port (default: a free one)')
    .option('--formats <list>', 'formats: the formats to run, comma-separated (default every one)')
    .option('--dir <dir>', 'where temporary files go (default: the system temp dir)')
    .action(async (which: string, flags: BenchFlags) => {
      const known: readonly string[] = [...BENCHES, ...EXTRA];
      const names: BenchName[] = which === 'all' ? [...BENCHES] : known.includes(which) ? [which as BenchName] : [];
      if (names.length === 0) throw new Error(`unknown bench "${which}" (known: ${known.join(', ')}, all)`);
      const { formatReport, writeCharts } = await import('../../bench/output.js');
      const { stopAll } = await import('../../bench/harness/processes.js');
      const reports = [];
      const t0 = Date.now();
      try {
        for (const name of names) {
          process.stderr.write(`slowq bench: ${name}…\n`);
          const r = await run(name, flags);
          reports.push(r);
          if (!flags.json) process.stdout.write(`\n${formatReport(r)}`);
        }
      } finally {
        await stopAll();
      }
      if (flags.json) process.stdout.write(JSON.stringify({ at: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, reports }, null, 2) + '\n');
      if (flags.svg) for (const p of writeCharts(flags.svg, reports)) process.stderr.write(`slowq bench: wrote ${p}\n`);
      process.stderr.write(`slowq bench: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}
