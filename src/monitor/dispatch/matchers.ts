import type { Labels } from '../model.js';

// Label matchers, Alertmanager's four operators: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
// Regexes are anchored (the whole value must match), as in Alertmanager. A missing label matches as "".
// Used by routes, silences and inhibition rules alike.

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

export class MatcherError extends Error {}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// longest operators first so `=~` is not read as `=` followed by `~…`
const SPLIT = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/s;

/** Parses `db=shop`, `type=~slow.*`, `user!="app"` (a quoted value may contain any character; \" and \\ escape). */
export function parseMatcher(text: string): Matcher {
  const m = SPLIT.exec(text);
  if (!m) throw new MatcherError(`matcher "${text}" is not NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX`);
  let value = m[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    value = value.slice(1, -1).replace(/\\(["\\])/g, '$1');
  }
  return checkMatcher({ name: m[1]!, op: m[2] as MatchOp, value }, `matcher "${text}"`);
}

/** Checks a matcher given as an object (config, wire, HTTP); `where` names it in the error. */
export function checkMatcher(m: Matcher, where = 'matcher'): Matcher {
  if (typeof m.name !== 'string' || !LABEL_NAME.test(m.name)) throw new MatcherError(`${where}: label name ${JSON.stringify(m.name)} is not a valid label name`);
  if (m.op !== '=' && m.op !== '!=' && m.op !== '=~' && m.op !== '!~') throw new MatcherError(`${where}: unknown operator ${JSON.stringify(m.op)}`);
  if (typeof m.value !== 'string') throw new MatcherError(`${where}: value must be a string`);
  if (m.op === '=~' || m.op === '!~') compile(m.value, where);
  return { name: m.name, op: m.op, value: m.value };
}

export function formatMatcher(m: Matcher): string {
  const plain = /^[A-Za-z0-9_.:/@-]*$/.test(m.value) && m.value.length > 0;
  return `${m.name}${m.op}${plain ? m.value : JSON.stringify(m.value)}`;
}

const cache = new Map<string, RegExp>();

function compile(source: string, where: string): RegExp {
  let re = cache.get(source);
  if (re) return re;
  try {
    re = new RegExp(`^(?:${source})$`, 's');
  } catch (err) {
    throw new MatcherError(`${where}: bad regular expression: ${(err as Error).message}`);
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(source, re);
  return re;
}

export function matches(m: Matcher, labels: Labels): boolean {
  const v = labels[m.name] ?? '';
  switch (m.op) {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return compile(m.value, 'matcher').test(v);
    case '!~': return !compile(m.value, 'matcher').test(v);
  }
}

/** True when every matcher matches (an empty list matches everything). */
export function matchesAll(ms: readonly Matcher[], labels: Labels): boolean {
  for (const m of ms) if (!matches(m, labels)) return false;
  return true;
}
