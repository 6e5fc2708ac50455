import { boundFingerprint } from '../model/bounds.js';
import { fingerprint, fingerprintId } from './fingerprint.js';

export interface Fingerprinted {
  fingerprint: string;
  fingerprintId: string;
}

/** statement-text lookups per measuring window of the text cache */
const WINDOW = 4096;
/** lookups skipped after a window whose hit rate was under 10% (then measured again) */
const BYPASS = 65_536;

/**
 * Fingerprint and id cost ~0.7 + 0.5 µs a statement (one-scan fingerprint, MD5 of it) and the same statements
 * repeat endlessly in a slow log, so results are memoised in bounded maps (cleared whole when full: cheap,
 * and the hot statements come straight back). Measured with the one-scan fingerprint: ~0.95 µs a record
 * where literals vary (1.4 µs without this cache), ~40 times less where statements repeat verbatim:
 *  - by statement text, for statements repeated verbatim;
 *  - by fingerprint, for the far more common case of the same statement with other literals: its MD5 id is
 *    computed once per fingerprint, not once per record (a profile of a realistic log, where literals vary,
 *    had the hashing at 6% of the client's time), and every record of a class shares one pair of strings.
 * Where literals vary, the text cache almost never hits and its lookups and inserts (hashing whole statements)
 * were 8% of the parse profile: it measures its hit rate and stands aside while that is under 10%.
 */
export class FingerprintCache {
  private readonly map = new Map<string, Fingerprinted>();
  private readonly byFingerprint = new Map<string, Fingerprinted>();
  private lookups = 0;
  private hits = 0;
  private bypass = 0;
  constructor(private readonly maxEntries = 10_000, private readonly maxKeyLength = 2_048) {}

  get(sql: string): Fingerprinted {
    if (this.bypass > 0) {
      this.bypass--;
      return this.byText(sql);
    }
    const hit = this.map.get(sql);
    if (++this.lookups >= WINDOW) this.endWindow();
    if (hit) {
      this.hits++;
      return hit;
    }
    const value = this.byText(sql);
    if (sql.length <= this.maxKeyLength && this.bypass === 0) {
      if (this.map.size >= this.maxEntries) this.map.clear();
      this.map.set(sql, value);
    }
    return value;
  }

  private endWindow(): void {
    if (this.hits * 10 < this.lookups) {
      this.bypass = BYPASS;
      this.map.clear();
    }
    this.lookups = 0;
    this.hits = 0;
  }

  private byText(sql: string): Fingerprinted {
    const fp = fingerprint(sql);
    let value = this.byFingerprint.get(fp);
    if (!value) {
      value = { fingerprint: boundFingerprint(fp), fingerprintId: fingerprintId(fp) };
      if (fp.length <= this.maxKeyLength) {
        if (this.byFingerprint.size >= this.maxEntries) this.byFingerprint.clear();
        this.byFingerprint.set(fp, value);
      }
    }
    return value;
  }
}
