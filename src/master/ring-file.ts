import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../durable/atomic-file.js';

// The ring (the consumer names sources are hashed over, and its version) in DATA/ring.json, with the change under
// way if there is one, so that a restarted master routes as before it stopped and finishes the change it began.
// Written atomically before a change starts (before any consumer is asked to give up a source) and when it ends.
// A file that cannot be read stops the master: routing by another ring would send sources to consumers that do
// not hold their state.

export interface RingState {
  version: number;
  names: string[];
  /** the ring being moved to: sources whose owner differs are handed over (rescale.ts) */
  next?: { version: number; names: string[] };
}

export const RING_FILE = 'ring.json';

export class RingFile {
  readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, RING_FILE);
  }

  /** The ring kept, or undefined when there is none yet; throws naming the file when it cannot be used. */
  async load(): Promise<RingState | undefined> {
    let text: string | undefined;
    try {
      text = await readTextIfExists(this.path);
    } catch (err) {
      throw new Error(`cannot read the ring in ${this.path}: ${(err as Error).message}`);
    }
    if (text === undefined) return undefined;
    const state = parseRing(text);
    if (typeof state === 'string') {
      throw new Error(`${this.path} is not a ring (${state}); the master will not guess which consumer holds which source: restore it from a backup, or remove it to start again from --consumers (only if that is the ring the consumers hold)`);
    }
    return state;
  }

  /** Saves the ring durably (after the saves before it). */
  save(state: RingState): Promise<void> {
    const text = JSON.stringify({ v: 1, ...state }) + '\n';
    const done = this.writing.then(() => writeFileAtomic(this.path, text));
    this.writing = done.catch(() => {});
    return done;
  }

  flushed(): Promise<void> {
    return this.writing;
  }
}

function names(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || v.length > 1000) return undefined;
  if (!v.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 512)) return undefined;
  return new Set(v).size === v.length ? (v as string[]) : undefined;
}

function parseRing(text: string): RingState | string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (o === null || typeof o !== 'object' || o.v !== 1) return 'not a version 1 ring file';
  const version = o.version;
  const list = names(o.names);
  if (!Number.isSafeInteger(version) || (version as number) < 1 || !list) return 'version or names missing or wrong';
  const state: RingState = { version: version as number, names: list };
  if (o.next !== undefined) {
    const n = o.next as Record<string, unknown> | null;
    const nextNames = n && typeof n === 'object' ? names(n.version === (version as number) + 1 ? n.names : undefined) : undefined;
    if (!nextNames) return 'next: must be the version after and a list of names';
    state.next = { version: (version as number) + 1, names: nextNames };
  }
  return state;
}
