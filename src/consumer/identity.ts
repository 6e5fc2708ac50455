import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { readTextIfExists, rewriteFileInPlace, setAsideCorrupt, writeFileAtomic } from '../durable/atomic-file.js';

// Who a consumer is, for the master to tell the rightful process from a stray or stale one (src/master/ownership.ts):
//
// - the state id, random, made the first time the data directory is used, and kept with it (a copy of the
//   directory carries it to another host): the same state id is the same state;
// - the generation: one more at every start, made durable before the consumer says hello, so a later start of the
//   same state always outranks an earlier one.
//
// Both live in DIR/identity.json. One that cannot be read is set aside (identity.json.corrupt-TIME) and a new state
// id made, with a warning: the master then treats the consumer as a state it has not seen (see ownership.ts).

export interface ConsumerIdentity {
  stateId: string;
  generation: number;
}

export const IDENTITY_FILE = 'identity.json';

/** Reads the identity in `dir` (making one if there is none), moves its generation forward and makes that durable. */
export async function nextGeneration(dir: string, opts: { fsync?: boolean; warn: (msg: string) => void }): Promise<ConsumerIdentity> {
  const path = join(dir, IDENTITY_FILE);
  let current: ConsumerIdentity | undefined;
  const text = await readTextIfExists(path);
  if (text !== undefined) {
    current = parseIdentity(text);
    if (!current) {
      const aside = await setAsideCorrupt(path);
      opts.warn(`${path} cannot be read as a consumer identity; set aside as ${aside}, and a new state id made: the master will treat this consumer as a new state`);
    }
  }
  const next: ConsumerIdentity = current ? { stateId: current.stateId, generation: current.generation + 1 } : { stateId: randomUUID(), generation: 1 };
  const nextText = JSON.stringify(next) + '\n';
  try {
    await writeFileAtomic(path, nextText, opts.fsync ?? true);
  } catch (err) {
    // a consumer killed while its disk is full must start again: its identity file's own block is reused
    if (!current || !['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    rewriteFileInPlace(path, nextText);
  }
  return next;
}

function parseIdentity(text: string): ConsumerIdentity | undefined {
  try {
    const o = JSON.parse(text) as Partial<ConsumerIdentity>;
    if (typeof o.stateId === 'string' && o.stateId.length > 0 && o.stateId.length <= 64 && Number.isSafeInteger(o.generation) && o.generation! >= 1) {
      return { stateId: o.stateId, generation: o.generation! };
    }
  } catch {
    // below
  }
  return undefined;
}
