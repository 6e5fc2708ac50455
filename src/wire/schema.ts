// A small declarative schema kit for what peers send and what state files hold: a `Check<T>` takes an
// unknown value and returns a *new* value of type T built from it, or throws a SchemaError saying where
// (`alert 3: severity`) and why. Objects are built from the schema's own keys only, never copied from the
// input: nothing a peer adds (extra keys, `__proto__` tricks, getters) reaches the services.
//
// The checks of the wire's messages are in header-schema.ts, record-schema.ts, alert-schema.ts,
// stats-schema.ts and silence-schema.ts; the bounds they use are in limits.ts.

export class SchemaError extends Error {
  constructor(readonly path: string, readonly problem: string) {
    super(path ? `${path}: ${problem}` : problem);
  }
}

/** Validates `value` (found at `path`, for the error) and returns a fresh value built from it. */
export type Check<T> = (value: unknown, path: string) => T;

/** What a check gives. */
export type Checked<C> = C extends Check<infer T> ? T : never;

/**
 * A value a peer sent, for an error message: short whatever its size, so an error quoting it still fits in a
 * header frame.
 */
export function echo(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `a list of ${v.length}` : v !== null && typeof v === 'object' ? 'a map' : String(v);
  } catch {
    s = typeof v;
  }
  return s.length > 64 ? `${s.slice(0, 64)}… (${s.length} chars)` : s;
}

/** Refuses the value at `path` (for checks written by hand). */
export function fail(path: string, problem: string): never {
  throw new SchemaError(path, problem);
}

const at = (path: string, key: string | number): string => (path ? `${path}: ${key}` : String(key));

/**
 * `check` on a part of a value (a field, an item, an entry). Where the part is gets spelt out only when it is
 * refused: building `record 917: labels: label "ip"` for every part that passes cost more than the checks
 * themselves (a consumer checks every record of every batch).
 */
function part<T>(check: Check<T>, value: unknown, path: string, key: () => string | number): T {
  try {
    return check(value, '');
  } catch (err) {
    if (!(err instanceof SchemaError)) throw err;
    const where = at(path, key());
    throw new SchemaError(err.path ? `${where}: ${err.path}` : where, err.problem);
  }
}

/** A map as msgpack or JSON decode it: a plain object (not a list, a Buffer, a Date). */
export function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

export interface TextOptions {
  /** fewest characters (UTF-16 units), default 0 */
  min?: number;
  max: number;
  /** a longer string is cut to `max` rather than refused (for names in counters, which are only shown) */
  cut?: boolean;
}

export function text(opts: TextOptions): Check<string> {
  const min = opts.min ?? 0;
  return (v, path) => {
    if (typeof v !== 'string') fail(path, `must be a string, got ${echo(v)}`);
    if (v.length < min) fail(path, min === 1 ? 'must not be empty' : `must have at least ${min} characters`);
    if (v.length > opts.max) {
      if (opts.cut) return v.slice(0, opts.max);
      fail(path, `must have at most ${opts.max} characters, got ${v.length}`);
    }
    return v;
  };
}

/** A safe integer from min to max. */
export function integer(min: number, max: number): Check<number> {
  return (v, path) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(path, `must be an integer from ${min} to ${max}, got ${echo(v)}`);
    return v;
  };
}

/** A finite number from min to max. */
export function number(min: number, max: number): Check<number> {
  const range = max === Number.MAX_VALUE ? `≥ ${min}` : `from ${min} to ${max}`;
  return (v, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(path, `must be a finite number ${range}, got ${echo(v)}`);
    return v;
  };
}

export const boolean: Check<boolean> = (v, path) => {
  if (typeof v !== 'boolean') fail(path, `must be true or false, got ${echo(v)}`);
  return v;
};

/** A string of at most `maxChars`, a finite number or a boolean: a label's value. */
export function primitive(maxChars: number): Check<string | number | boolean> {
  return (v, path) => {
    if (typeof v === 'string') {
      if (v.length > maxChars) fail(path, `must have at most ${maxChars} characters, got ${v.length}`);
      return v;
    }
    if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return v;
    return fail(path, `must be a string, a finite number or a boolean, got ${echo(v)}`);
  };
}

export function oneOf<const T extends string | number>(values: readonly T[]): Check<T> {
  const allowed = new Set<unknown>(values);
  return (v, path) => {
    if (!allowed.has(v)) fail(path, `must be one of ${values.join(', ')}, got ${echo(v)}`);
    return v as T;
  };
}

// An ISO 8601 date and time with a zone, as Date.prototype.toISOString writes it (years beyond 9999 included).
const ISO_TIME = /^(?:\d{4}|[+-]\d{6})-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/;

/** An ISO time that names a real moment a Date can hold. */
export const isoTime: Check<string> = (v, path) => {
  if (typeof v !== 'string' || v.length > 40 || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) {
    fail(path, `must be an ISO time such as 2026-01-01T00:00:00.000Z, got ${echo(v)}`);
  }
  return v;
};

export function listOf<T>(item: Check<T>, opts: { max: number; what?: string }): Check<T[]> {
  const what = opts.what ?? 'item';
  return (v, path) => {
    if (!Array.isArray(v)) fail(path, `must be a list, got ${echo(v)}`);
    if (v.length > opts.max) fail(path, `must have at most ${opts.max} ${what}s, got ${v.length}`);
    const out = new Array<T>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = part(item, v[i], path, () => `${what} ${i}`);
    return out;
  };
}

export function pair<A, B>(a: Check<A>, b: Check<B>): Check<[A, B]> {
  return (v, path) => {
    if (!Array.isArray(v) || v.length !== 2) fail(path, `must be a pair, got ${echo(v)}`);
    return [part(a, v[0], path, () => 0), part(b, v[1], path, () => 1)];
  };
}

const OPTIONAL = Symbol('optional');
/** A field that may be absent (undefined); when present it must pass `check`. */
export interface Optional<T> {
  readonly [OPTIONAL]: Check<T>;
}
export function optional<T>(check: Check<T>): Optional<T> {
  return { [OPTIONAL]: check };
}

type Field = Check<unknown> | Optional<unknown>;
type RequiredKeys<S> = { [K in keyof S]: S[K] extends Optional<unknown> ? never : K }[keyof S];
type OptionalKeys<S> = { [K in keyof S]: S[K] extends Optional<unknown> ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] };
/** The object a schema of fields builds. */
export type Shape<S> = Simplify<
  { [K in RequiredKeys<S>]: S[K] extends Check<infer T> ? T : never } & { [K in OptionalKeys<S>]?: S[K] extends Optional<infer T> ? T : never }
>;

/**
 * A map with these fields, built anew in the schema's key order (keys the schema does not name are left
 * behind). `refine` checks what spans fields (first ≤ last), returning a problem or undefined.
 */
export function object<S extends Record<string, Field>>(fields: S, refine?: (o: Shape<S>) => string | undefined): Check<Shape<S>> {
  const entries = Object.entries(fields).map(([key, f]) => {
    const opt = (f as Partial<Optional<unknown>>)[OPTIONAL];
    return { key, check: opt ?? (f as Check<unknown>), optional: opt !== undefined };
  });
  return (v, path) => {
    if (!isPlainMap(v)) fail(path, `must be a map, got ${echo(v)}`);
    const out: Record<string, unknown> = {};
    for (const { key, check, optional: opt } of entries) {
      const value = Object.hasOwn(v, key) ? v[key] : undefined;
      if (value === undefined) {
        if (opt) continue;
        fail(at(path, key), 'missing');
      }
      out[key] = part(check, value, path, () => key);
    }
    const built = out as Shape<S>;
    const problem = refine?.(built);
    if (problem !== undefined) fail(path, problem);
    return built;
  };
}

export interface MapOptions<V> {
  /** most entries */
  max: number;
  key: Check<string>;
  value: Check<V>;
  what?: string;
}

/**
 * A map of names to values (labels, counters), built anew: its keys are checked like strings, and a key
 * named `__proto__` is refused (assigned to a plain object it would replace the prototype).
 */
export function mapOf<V>(opts: MapOptions<V>): Check<Record<string, V>> {
  const what = opts.what ?? 'entry';
  return (v, path) => {
    if (!isPlainMap(v)) fail(path, `must be a map, got ${echo(v)}`);
    const keys = Object.keys(v);
    if (keys.length > opts.max) fail(path, `must have at most ${opts.max} ${what}s, got ${keys.length}`);
    const out: Record<string, V> = {};
    for (const k of keys) {
      if (k === '__proto__') fail(path, `${what} name __proto__ is not allowed`);
      const name = part(opts.key, k, path, () => `${what} name`);
      out[name] = part(opts.value, v[k], path, () => `${what} ${echo(name)}`);
    }
    return out;
  };
}

/** Binary data (msgpack bin), as it came. */
export const bytes: Check<Buffer> = (v, path) => {
  if (!(v instanceof Uint8Array)) fail(path, `must be binary data, got ${echo(v)}`);
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
};

/** One of several kinds of map, told apart by the string in `key` (a journal entry's `k`). */
export function tagged<T>(key: string, kinds: Record<string, Check<T>>): Check<T> {
  return (v, path) => {
    if (!isPlainMap(v)) fail(path, `must be a map, got ${echo(v)}`);
    const kind = Object.hasOwn(v, key) ? v[key] : undefined;
    if (typeof kind !== 'string' || !Object.hasOwn(kinds, kind)) fail(at(path, key), `unknown kind ${echo(kind)} (known: ${Object.keys(kinds).join(', ')})`);
    return kinds[kind]!(v, path);
  };
}

/**
 * The elements of `list` that pass `check`; each that does not is handed to `refuse` with its index and the
 * problem (relative to the element), and left out; a list that is not one is refused whole (index -1). For
 * state whose parts can be set aside one by one.
 */
export function sift<T>(list: unknown, check: Check<T>, refuse: (value: unknown, index: number, problem: string) => void): T[] {
  if (!Array.isArray(list)) {
    refuse(list, -1, `must be a list, got ${echo(list)}`);
    return [];
  }
  const out: T[] = [];
  for (let i = 0; i < list.length; i++) {
    try {
      out.push(check(list[i], ''));
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      refuse(list[i], i, err.message);
    }
  }
  return out;
}
