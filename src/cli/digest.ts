import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { DIGEST_MAX_LINE_BYTES, digestFile } from '../digest/digest-file.js';
import { toPtJson } from '../digest/pt-json.js';
import { textReport } from '../digest/report.js';
import { intOption } from './common.js';
import { addParserOptions, parserOptionsFrom, type ParserFlags } from './parser-options.js';

interface DigestFlags extends ParserFlags {
  format: string;
  json?: boolean;
  limit: string;
  maxProblems: string;
  maxLineBytes: string;
}

export function register(program: Command): void {
  addParserOptions(program
    .command('digest')
    .description('per-fingerprint report of FILE, like pt-query-digest (--json: its JSON layout)')
    .requiredOption('--format <format>', 'input format (jsonl, mysql-slow, postgres, postgres-csv, postgres-json)')
    .option('--json', "pt-query-digest's --output json layout, every class")
    .option('--limit <n>', 'classes in the text report (0 = all)', '20')
    .option('--max-problems <n>', 'problems reported in full on stderr before only counting', '10')
    .option('--max-line-bytes <n>', 'longest line read whole (longer lines are skipped and reported)', String(DIGEST_MAX_LINE_BYTES))
    .argument('<file>', 'log file (.gz and .bz2 are decompressed; - reads standard input)'))
    .action(async (file: string, flags: DigestFlags) => {
      const limit = intOption(flags.limit, '--limit');
      const maxProblems = intOption(flags.maxProblems, '--max-problems');
      const maxLineBytes = intOption(flags.maxLineBytes, '--max-line-bytes');
      let shown = 0;
      const result = await digestFile(file, flags.format, {
        maxLineBytes,
        parser: parserOptionsFrom(flags),
        onProblem: (p) => {
          if (shown++ < maxProblems) {
            process.stderr.write(`slowq digest: ${file}:${p.line} (byte ${p.offset}): ${p.reason}${p.text ? `: ${p.text}` : ''}\n`);
          }
        },
      });
      if (flags.json) {
        const size = file === '-' ? null : (await stat(file)).size;
        process.stdout.write(JSON.stringify(toPtJson(result.digest, [{ name: file === '-' ? 'STDIN' : file, size }])) + '\n');
      } else {
        process.stdout.write(textReport(result.digest, { limit, source: `slowq digest of ${file} (${flags.format})` }));
      }
      if (result.problems > 0 || result.skipped > 0) {
        process.stderr.write(`slowq digest: ${file}: ${result.events} records, ${result.skipped} lines not query events, ${result.problems} malformed\n`);
      }
      if (result.events === 0 && result.problems > 0) {
        process.stderr.write(`slowq digest: ${file} does not look like ${flags.format}\n`);
        process.exitCode = 2;
      }
    });
}
