import { createHash } from 'node:crypto';

// Rendezvous (highest-random-weight) hashing: each source goes to the consumer with the highest
// hash(source, consumer). A source keeps its owner while the set of configured names stays the same,
// even while that consumer restarts, and adding a consumer moves only the sources it wins.

function weight(source: string, consumer: string): number {
  const h = createHash('md5').update(source).update('\0').update(consumer).digest();
  return h.readUInt32BE(0) * 0x200000 + (h.readUInt32BE(4) >>> 11); // 53 bits
}

export function ownerOf(source: string, consumers: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const c of consumers) {
    const w = weight(source, c);
    if (w > bestWeight || (w === bestWeight && best !== undefined && c < best)) {
      best = c;
      bestWeight = w;
    }
  }
  return best;
}

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
