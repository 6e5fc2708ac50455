import { fingerprint, fingerprintId } from './fingerprint.js';

export interface Fingerprinted {
  fingerprint: string;
  fingerprintId: string;
}

/**
 * Fingerprinting is the most expensive step of parsing and the same statements repeat endlessly in a
 * slow log, so results are memoised in bounded maps (cleared whole when full: cheap, and the hot
 * statements come straight back):
 *  - by statement text, for statements repeated verbatim;
 *  - by fingerprint, for the far more common case of the same statement with other literals: its MD5 id is
 *    computed once per fingerprint, not once per record (a profile of a realistic log, where literals vary,
 *    had the hashing at 6% of the client's time), and every record of a class shares one pair of strings.
 */
export class FingerprintCache {
  private readonly map = new Map<string, Fingerprinted>();
  private readonly byFingerprint = new Map<string, Fingerprinted>();
  constructor(private readonly maxEntries = 10_000, private readonly maxKeyLength = 2_048) {}

  get(sql: string): Fingerprinted {
    const hit = this.map.get(sql);
    if (hit) return hit;
    const fp = fingerprint(sql);
    let value = this.byFingerprint.get(fp);
    if (!value) {
      value = { fingerprint: fp, fingerprintId: fingerprintId(fp) };
      if (fp.length <= this.maxKeyLength) {
        if (this.byFingerprint.size >= this.maxEntries) this.byFingerprint.clear();
        this.byFingerprint.set(fp, value);
      }
    }
    if (sql.length <= this.maxKeyLength) {
      if (this.map.size >= this.maxEntries) this.map.clear();
      this.map.set(sql, value);
    }
    return value;
  }
}
