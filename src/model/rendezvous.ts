import { createHash } from 'node:crypto';

// Rendezvous (highest-random-weight) hashing: each source goes to the consumer with the highest
// hash(source, consumer). A source keeps its owner while the set of names (the ring) stays the same, even while
// that consumer restarts, and adding a consumer moves only the sources it wins; removing one moves only its own.
// The master routes by it, and a consumer asked to give up sources for a new ring finds them by it.

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
