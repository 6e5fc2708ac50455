import { createHash } from 'node:crypto';

// PROVISIONAL: a minimal normaliser so the pipeline can run; the pt-query-digest-compatible version
// (DESIGN.md "Fingerprints") replaces the body of fingerprint() with the same signature.

/** Normalised form of a statement: literals replaced by `?`, whitespace collapsed, lower case. */
export function fingerprint(sql: string): string {
  return sql
    .replace(/'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/** pt-query-digest's checksum: `0x` + upper-case MD5 of the fingerprint (it prints the last 16 hex digits). */
export function fingerprintId(fp: string): string {
  return '0x' + createHash('md5').update(fp).digest('hex').toUpperCase();
}
