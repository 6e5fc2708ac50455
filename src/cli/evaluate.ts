import type { Command } from 'commander';
import { evaluateFiles } from '../rules/evaluate.js';
import { addRuleOptions, configFrom, type ThresholdFlags } from './rule-flags.js';
import { addParserOptions, parserOptionsFrom, type ParserFlags } from './parser-options.js';

export function register(program: Command): void {
  addParserOptions(addRuleOptions(
    program
      .command('evaluate')
      .description('the oracle: parse FILE(s) and apply the alert rules in one process; alerts as JSON lines on stdout')
      .requiredOption('--format <format>', 'input format (jsonl, mysql-slow, postgres, postgres-csv, postgres-json)')
      .requiredOption('--source <name>', 'the source name the alerts carry')
      .argument('<files...>', 'files, read in order as one source'),
  )).action(async (files: string[], flags: ThresholdFlags & ParserFlags & { format: string; source: string }) => {
    const cfg = configFrom(flags);
    let out = '';
    const flush = () => {
      if (out) process.stdout.write(out);
      out = '';
    };
    let firstProblem = true;
    const r = await evaluateFiles(files, flags.format, flags.source, cfg.rules, (alerts) => {
      for (const a of alerts) out += JSON.stringify(a) + '\n';
      if (out.length > 1 << 16) flush();
    }, (file, p) => {
      if (firstProblem) process.stderr.write(`slowq evaluate: ${file}:${p.line} (byte ${p.offset}): ${p.reason}\n`);
      firstProblem = false;
    }, parserOptionsFrom(flags));
    flush();
    const step = r.clockSteps[0];
    if (step) {
      process.stderr.write(`slowq evaluate: ${r.clockSteps.length} record(s) refused as clock steps; the first: ${step.stream} record ${step.seq} ` +
        `at ${new Date(step.ts).toISOString()}, ${Math.round((step.ts - step.watermark) / 1000)} s ahead of the source's time\n`);
    }
    process.stderr.write(`slowq evaluate: ${r.records} records, ${r.problems} lines skipped as malformed\n`);
  });
}
