import { fingerprint, fingerprintId } from './fingerprint.js';

export interface Fingerprinted {
  fingerprint: string;
  fingerprintId: string;
}

/**
 * Fingerprinting is the most expensive step of parsing and the same statements repeat endlessly in a
 * slow log, so results are memoised in a bounded map (cleared whole when full: cheap, and the hot
 * statements come straight back).
 */
export class FingerprintCache {
  private readonly map = new Map<string, Fingerprinted>();
  constructor(private readonly maxEntries = 10_000, private readonly maxKeyLength = 2_048) {}

  get(sql: string): Fingerprinted {
    const hit = this.map.get(sql);
    if (hit) return hit;
    const fp = fingerprint(sql);
    const value = { fingerprint: fp, fingerprintId: fingerprintId(fp) };
    if (sql.length <= this.maxKeyLength) {
      if (this.map.size >= this.maxEntries) this.map.clear();
      this.map.set(sql, value);
    }
    return value;
  }
}
