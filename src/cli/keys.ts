import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { fingerprint, writeKeyPair } from '../security/curve.js';

// `slowq keys`: a CURVE key pair as two Z85 text files. NAME.key is the secret (mode 0600, never overwritten);
// NAME.pub is what other parties get: a server's .pub for its clients' --server-key, a client's .pub for the
// server's --allow directory.

export function register(program: Command): void {
  program
    .command('keys')
    .description('make a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (public)')
    .option('--out <dir>', 'directory to write to (created with mode 0700 if missing)', '.')
    .option('--name <name>', 'file name without extension (default: this host\'s name)')
    .action((flags: { out: string; name?: string }) => {
      const name = flags.name ?? (hostname().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '') || 'slowq');
      const written = writeKeyPair(resolve(flags.out), name);
      process.stdout.write(
        `secret key: ${written.secretFile} (mode 600: keep it on this host; give it to --curve-secret)\n` +
          `public key: ${written.publicFile} (fingerprint ${fingerprint(written.publicKey)}: give it to the peer's --allow or --server-key)\n`,
      );
    });
}
