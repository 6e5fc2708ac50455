import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkConfig, CONFIG_KINDS } from './config-kinds.js';

// `slowq check-config FILE…`: is this file one slowq will take? Exit 0 with a line per file saying what is in
// it; else exit 1 with the first problem of each bad file, naming the file and the key (like amtool
// check-config). Nothing starts and nothing is written.

export function register(program: Command): void {
  program
    .command('check-config')
    .description('check configuration files (the server\'s, or an agent\'s): exit 0 with a summary, or 1 naming the file and the key')
    .argument('<files...>', 'configuration files (YAML, or JSON when the name ends in .json)')
    .option('--kind <kind>', `what the files configure: ${Object.keys(CONFIG_KINDS).join(', ')} (default: told by their keys; agent files have inputs:)`)
    .action((files: string[], flags: { kind?: string }) => {
      if (flags.kind !== undefined && !(flags.kind in CONFIG_KINDS)) {
        throw new Error(`--kind must be one of ${Object.keys(CONFIG_KINDS).join(', ')}, got "${flags.kind}"`);
      }
      let bad = 0;
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          process.stderr.write(`slowq check-config: cannot read ${file}: ${(err as Error).message}\n`);
          bad++;
          continue;
        }
        const r = checkConfig(text, file, flags.kind);
        if (r.ok) process.stdout.write(`${r.summary}\n`);
        else {
          process.stderr.write(`slowq check-config: ${r.error}\n`);
          bad++;
        }
      }
      if (bad > 0) process.exitCode = 1;
    });
}
