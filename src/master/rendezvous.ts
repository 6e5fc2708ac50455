import { ownerOf } from '../model/rendezvous.js';

// Which consumer owns a source: rendezvous hashing over the ring's names (src/model/rendezvous.ts, shared with the
// consumers, which find by it the sources they give up when the ring changes).

export { ownerOf };

/** Memoises ownerOf for a fixed consumer list (the master asks once per batch). */
export class OwnerCache {
  private readonly cache = new Map<string, string | undefined>();
  constructor(readonly consumers: readonly string[]) {}
  get(source: string): string | undefined {
    if (this.cache.has(source)) return this.cache.get(source);
    const owner = ownerOf(source, this.consumers);
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(source, owner);
    return owner;
  }
}

/** `c0..c{n-1}`: the default consumer names for `--consumers N`. */
export function defaultConsumerNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `c${i}`);
}
