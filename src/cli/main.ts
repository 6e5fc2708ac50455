import '../supervisor/follow-parent.js'; // first: a supervised service stops when its supervisor is gone
import { Command } from 'commander';
import { register as registerClient } from './client.js';
import { register as registerConsumer } from './consumer.js';
import { register as registerDemo } from './demo.js';
import { register as registerEvaluate } from './evaluate.js';
import { register as registerMaster } from './master.js';
import { register as registerMonitor } from './monitor.js';
import { register as registerUp } from './up.js';
import { register as registerParse } from './parse.js';
import { register as registerLogserver } from './logserver.js';
import { register as registerProbe } from './probe.js';
import { register as registerSilence } from './silence.js';
import { register as registerDigest } from './digest.js';
import { register as registerBench } from './bench.js';
import { register as registerKeys } from './keys.js';

// The `slowq` command line: one file per command under src/cli/, each exporting register(program).
// Keep this file to the list of registrations.

const program = new Command();
program
  .name('slowq')
  .description('Real-time slow-query alerting: tail slow logs, route them over ZeroMQ, alert once per problem.')
  .showHelpAfterError();

// registrations (one line per command module)
registerUp(program);
registerDemo(program);
registerMaster(program);
registerClient(program);
registerConsumer(program);
registerMonitor(program);
registerEvaluate(program);
registerParse(program);
registerLogserver(program);
registerProbe(program);
registerSilence(program);
registerDigest(program);
registerBench(program);
registerKeys(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`slowq: ${msg}\n`);
  process.exitCode = process.exitCode || 1;
});
