import { Command } from 'commander';
import { register as registerEvaluate } from './evaluate.js';
import { register as registerParse } from './parse.js';
import { register as registerLogserver } from './logserver.js';

// The `slowq` command line: one file per command under src/cli/, each exporting register(program).
// Keep this file to the list of registrations.

const program = new Command();
program
  .name('slowq')
  .description('Real-time slow-query alerting: tail slow logs, route them over ZeroMQ, alert once per problem.')
  .showHelpAfterError();

// registrations (one line per command module)
registerEvaluate(program);
registerParse(program);
registerLogserver(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`slowq: ${msg}\n`);
  process.exitCode = process.exitCode || 1;
});
