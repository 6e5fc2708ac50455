// Checks for configuration values read from YAML or JSON. Every check names the key it is about, so a
// typo or a wrong type is an error that says where it is, never a silent fall-back to a default.

export class ConfigError extends Error {}

export function map(v: unknown, at: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${at} must be a map`);
  return v as Record<string, unknown>;
}

export function list(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(`${at} must be a list`);
  return v;
}

/** Refuses keys outside `keys`, naming the first unknown one and the known ones. */
export function known(o: Record<string, unknown>, keys: readonly string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw new ConfigError(`${at}: unknown key "${k}" (known: ${keys.join(', ')})`);
  }
}

export function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new ConfigError(`${at} must be a string`);
  return v;
}

export function nonEmpty(v: unknown, at: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`${at} must be a non-empty string`);
  return v;
}

/** A number of milliseconds ≥ 0. */
export function ms(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${at} must be a number of milliseconds ≥ 0`);
  return v;
}

export function positiveMs(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`${at} must be a number of milliseconds > 0`);
  return v;
}

/** A number > 0. */
export function count(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`${at} must be a number > 0`);
  return v;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "30s", "5m", "1h30m", "500ms", "2d" → ms; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '' ) return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return total;
}

/** A duration written "30s", "5m", "4h", "1h30m" or as a number of milliseconds. */
export function duration(v: unknown, at: string, positive = false): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? parseDuration(v) : undefined;
  if (n === undefined || !Number.isFinite(n) || n < 0 || (positive && n === 0)) {
    throw new ConfigError(`${at} must be a duration like "30s", "5m", "4h" or a number of milliseconds${positive ? ' > 0' : ''}`);
  }
  return n;
}
