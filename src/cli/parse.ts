import type { Command } from 'commander';
import { parseFile } from '../formats/read-file.js';
import { addParserOptions, parserOptionsFrom, type ParserFlags } from './parser-options.js';

export function register(program: Command): void {
  addParserOptions(program
    .command('parse')
    .description('parse FILE and print the normalised records, one JSON object per line')
    .requiredOption('--format <format>', 'input format (jsonl, mysql-slow, postgres, postgres-csv, postgres-json)')
    .option('--max-problems <n>', 'problems reported in full on stderr before only counting', '10')
    .argument('<file>', 'log file (.gz and .bz2 are decompressed)'))
    .action(async (file: string, flags: ParserFlags & { format: string; maxProblems: string }) => {
      let out = '';
      let shown = 0;
      const max = Number(flags.maxProblems) || 0;
      const summary = await parseFile(file, flags.format, (events) => {
        for (const e of events) out += JSON.stringify(e) + '\n';
        if (out.length > 1 << 16) {
          process.stdout.write(out);
          out = '';
        }
      }, (p) => {
        if (shown++ < max) process.stderr.write(`slowq parse: ${file}:${p.line} (byte ${p.offset}): ${p.reason}${p.text ? `: ${p.text}` : ''}\n`);
      }, parserOptionsFrom(flags));
      if (out) process.stdout.write(out);
      process.stderr.write(`slowq parse: ${file}: ${summary.events} records, ${summary.skipped} lines not query events, ${summary.problems} malformed (${summary.lines} lines, ${summary.bytes} bytes)\n`);
      if (summary.events === 0 && summary.problems > 0) {
        process.stderr.write(`slowq parse: ${file} does not look like ${flags.format}\n`);
        process.exitCode = 2;
      }
    });
}
