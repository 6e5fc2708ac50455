import { stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import { statPath, type FileStat } from './file-identity.js';
import type { ErrorReporter } from './error-reporter.js';
import { compilePattern, matchesAny, scanPattern, type PathPattern } from './path-pattern.js';

// Which files the patterns match now (Filebeat's scanner). Exact paths are always looked at; glob matches
// are found by chokidar watchers on each glob's base directory, with a full rescan every so often as a
// safety net (and a watcher for a directory that appears later). Each poll stats every candidate.

export class FileDiscovery {
  private readonly patterns: PathPattern[];
  private readonly watchers = new Map<string, FSWatcher>();
  /** glob-matched paths seen to exist (exact paths are always checked) */
  private readonly discovered = new Set<string>();
  private lastRescan = 0;

  constructor(
    patterns: string[],
    private readonly rescanIntervalMs: number,
    private readonly reporter: ErrorReporter,
  ) {
    this.patterns = patterns.map(compilePattern);
  }

  async start(): Promise<void> {
    for (const p of this.patterns) if (p.isGlob) await this.watchGlob(p);
    this.lastRescan = Date.now();
  }

  async close(): Promise<void> {
    await Promise.all([...this.watchers.values()].map((w) => w.close()));
    this.watchers.clear();
  }

  /** Every regular file a pattern matches now, by path, with its stat. */
  async candidates(now: number): Promise<Map<string, FileStat>> {
    for (const p of this.patterns) if (p.isGlob && !this.watchers.has(p.pattern)) await this.watchGlob(p);
    if (now - this.lastRescan >= this.rescanIntervalMs) {
      this.lastRescan = now;
      for (const p of this.patterns) if (p.isGlob) for (const f of await scanPattern(p)) this.discovered.add(f);
    }
    return this.statCandidates();
  }

  matches(path: string): boolean {
    return matchesAny(this.patterns, path);
  }

  /** A matching path learnt of otherwise (an open file renamed to it): a candidate from now on. */
  found(path: string): void {
    this.discovered.add(path);
  }

  private async watchGlob(p: PathPattern): Promise<void> {
    try {
      if (!(await stat(p.baseDir)).isDirectory()) return;
    } catch {
      return; // not there yet: checked again every poll
    }
    const w = watch(p.baseDir, {
      ignoreInitial: true,
      depth: p.depth,
      persistent: true,
      ignored: (path: string, st?: import('node:fs').Stats) => st?.isFile() === true && !p.regex.test(path),
    });
    const found = (path: string): void => {
      if (p.regex.test(path)) this.discovered.add(path);
    };
    w.on('add', found);
    w.on('change', found);
    w.on('error', (err: unknown) => this.reporter.report(p.baseDir, err));
    await new Promise<void>((resolve) => w.once('ready', resolve));
    this.watchers.set(p.pattern, w);
    // files that were there before the watch (or appeared while it started)
    for (const f of await scanPattern(p)) this.discovered.add(f);
  }

  /** Stats every exact path and every discovered glob match. */
  private async statCandidates(): Promise<Map<string, FileStat>> {
    const paths = new Set<string>();
    for (const p of this.patterns) if (!p.isGlob) paths.add(p.pattern);
    for (const d of this.discovered) paths.add(d);
    const seen = new Map<string, FileStat>();
    for (const path of paths) {
      let st: FileStat | undefined;
      try {
        st = await statPath(path);
      } catch (err) {
        this.reporter.report(path, err);
        continue;
      }
      if (!st) {
        this.discovered.delete(path);
        continue;
      }
      if (st.isFile) seen.set(path, st);
    }
    return seen;
  }
}

/** The candidates' paths by file key: one file can be reached by several paths (links, two patterns). */
export function pathsByKey(seen: Map<string, FileStat>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [path, st] of seen) {
    const list = m.get(st.key);
    if (list) list.push(path);
    else m.set(st.key, [path]);
  }
  return m;
}
