import { readdir, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';

// The file patterns a client tails: plain paths or globs (`*`, `?`, `[abc]`, `[!abc]`, `{a,b}`, `**`).
// chokidar 4+ no longer expands globs, and node's path.matchesGlob is experimental on Node 20 (it warns),
// so patterns are compiled here to a regular expression over absolute paths, with the directory to
// watch (the longest part without wildcards) and how deep below it a match can be.

export interface PathPattern {
  /** the pattern as an absolute path */
  pattern: string;
  isGlob: boolean;
  regex: RegExp;
  /** deepest directory without wildcards: what to watch and scan */
  baseDir: string;
  /** directory levels below baseDir a match can be at (0 = directly in it); undefined with `**` */
  depth: number | undefined;
}

const GLOB_CHARS = /[*?[{]/;
/** `**` scans stop this deep, so a link loop cannot run away */
const MAX_SCAN_DEPTH = 16;

export function compilePattern(input: string): PathPattern {
  const pattern = resolve(input);
  const segments = pattern.split(sep).slice(1); // absolute: the first segment is empty
  const firstGlob = segments.findIndex((s) => GLOB_CHARS.test(s));
  if (firstGlob === -1) {
    return { pattern, isGlob: false, regex: new RegExp('^' + escapeRegex(pattern) + '$'), baseDir: resolve(pattern, '..'), depth: 0 };
  }
  let re = '^';
  segments.forEach((seg, i) => {
    if (seg === '**') re += i === segments.length - 1 ? '(?:/.*)?' : '(?:/[^/]+)*';
    else re += '/' + segmentRegex(seg);
  });
  const baseDir = '/' + segments.slice(0, firstGlob).join('/');
  const rest = segments.slice(firstGlob);
  const depth = rest.includes('**') ? undefined : rest.length - 1;
  return { pattern, isGlob: true, regex: new RegExp(re + '$'), baseDir, depth };
}

export function matchesAny(patterns: readonly PathPattern[], path: string): boolean {
  for (const p of patterns) if (p.regex.test(path)) return true;
  return false;
}

/** Regular files under the pattern's base directory that match it (a missing directory gives none). */
export async function scanPattern(p: PathPattern): Promise<string[]> {
  const found: string[] = [];
  const maxDepth = p.depth ?? MAX_SCAN_DEPTH;
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const s = await stat(full);
          isDir = s.isDirectory();
          isFile = s.isFile();
        } catch {
          continue;
        }
      }
      if (isFile && p.regex.test(full)) found.push(full);
      else if (isDir && depth < maxDepth) await walk(full, depth + 1);
    }
  };
  await walk(p.baseDir, 0);
  return found;
}

function segmentRegex(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') {
      while (seg[i + 1] === '*') i++;
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += (negate ? '[^/' : '[') + body.replace(/[\\\]]/g, '\\$&') + ']';
      i = close;
    } else if (c === '{') {
      const close = seg.indexOf('}', i + 1);
      if (close === -1) {
        out += '\\{';
        continue;
      }
      out += '(?:' + seg.slice(i + 1, close).split(',').map(segmentRegex).join('|') + ')';
      i = close;
    } else out += escapeRegex(c);
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
