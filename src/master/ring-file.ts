import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../durable/atomic-file.js';
import { parseRing, ringText, type RingEdit, type RingState, type RingStore } from './ring-store.js';

// The ring of a master alone (ring-store.ts) in DATA/ring.json, with the change under way and how far it got, so
// that a restarted master routes as before it stopped and finishes the change it began. Written atomically before
// a change starts (before any consumer is asked to give up a source), at each step of it, and when it ends. A file
// that cannot be read stops the master: routing by another ring would send sources to consumers that do not hold
// their state. Masters that share a ring in etcd keep their last one here too (without its progress), to start
// from while etcd cannot be reached.

export type { RingState } from './ring-store.js';

export const RING_FILE = 'ring.json';

export class RingFile implements RingStore {
  readonly shared = false;
  readonly driving = true;
  readonly path: string;
  private writing: Promise<unknown> = Promise.resolve();
  private ring: RingState | undefined;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, RING_FILE);
  }

  get where(): string {
    return this.path;
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

  async open(first: RingState): Promise<RingState> {
    this.ring = (await this.load()) ?? first;
    if (this.ring === first) await this.save(first);
    return this.ring;
  }

  async update(edit: RingEdit): Promise<RingState | string> {
    const run = this.writing.then(async () => {
      const next = edit(this.ring!);
      if (typeof next === 'string') return next;
      try {
        await writeFileAtomic(this.path, ringText(next) + '\n');
      } catch (err) {
        return `cannot save the ring in ${this.path} (${(err as Error).message})`;
      }
      this.ring = next;
      return next;
    });
    this.writing = run.catch(() => {});
    return run;
  }

  /** Saves the ring durably (after the saves before it). */
  save(state: RingState): Promise<void> {
    const done = this.writing.then(() => writeFileAtomic(this.path, ringText(state) + '\n'));
    this.writing = done.catch(() => {});
    return done;
  }

  /** Resolves once every write so far has landed. */
  async flushed(): Promise<void> {
    await this.writing;
  }

  stats(): Record<string, number> {
    return {};
  }

  async close(): Promise<void> {
    await this.flushed();
  }
}
