import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../durable/atomic-file.js';
import type { RememberedOwner } from './ownership.js';

// The master's only state: which state id and generation owned each consumer name (ownership.ts), in
// DATA/owners.json, so that after a master restart the first process to speak does not simply win the name.
// Written atomically at each change of owner (a handful a day); saves are serialised, the latest wins. A file
// that cannot be read or is not in this shape is said once and left for the operator: ownership then starts
// afresh, as it did before the master kept any.

interface OwnersFileContent {
  v: 1;
  owners: RememberedOwner[];
}

export class OwnerFile {
  private readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(dir: string, private readonly log: Logger) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'owners.json');
  }

  async load(): Promise<RememberedOwner[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.log.warn({ file: this.path, err: (err as Error).message }, 'cannot read the consumers\' owners; starting without them');
      return [];
    }
    try {
      const o = JSON.parse(text) as Partial<OwnersFileContent>;
      if (o.v !== 1 || !Array.isArray(o.owners)) throw new Error('not a v1 owners file');
      return o.owners.filter((r): r is RememberedOwner =>
        r !== null && typeof r === 'object' && typeof r.name === 'string' && typeof r.sid === 'string' && Number.isSafeInteger(r.gen));
    } catch (err) {
      this.log.warn({ file: this.path, err: (err as Error).message }, 'the consumers\' owners file is damaged; starting without it (it is rewritten at the next change of owner)');
      return [];
    }
  }

  /** Saves the owners (after the saves before it); a failure is said, and the next change tries again. */
  save(owners: RememberedOwner[]): void {
    const text = JSON.stringify({ v: 1, owners } satisfies OwnersFileContent) + '\n';
    this.writing = this.writing.then(() => writeFileAtomic(this.path, text)).catch((err: unknown) => {
      this.log.warn({ file: this.path, err: (err as Error).message }, 'cannot save the consumers\' owners (a restart of the master may then let any claimant win a name)');
    });
  }

  /** Resolves once every save so far has landed. */
  flushed(): Promise<void> {
    return this.writing;
  }
}
