import { dirname } from 'node:path';
import { pathsByKey, type FileDiscovery } from './discovery.js';
import type { ErrorReporter } from './error-reporter.js';
import { findByInode, type FileStat } from './file-identity.js';
import type { Harvester } from './harvester.js';
import type { OpenStreams } from './open-streams.js';

// What became of the open files since the last poll, and what follows for their streams:
// - copytruncate (or rewritten in place): shorter than what was read, or its first bytes changed: the
//   stream ends (what was not read before the truncation is gone) and the file starts over as a new one;
// - renamed to another watched name: the same stream carries on there;
// - renamed out of the watch, or deleted: the file is drained (read until it has been quiet for the
//   grace period, late writes included), then its stream ends and a new file at its path may start.

export class Rotation {
  constructor(
    private readonly streams: OpenStreams,
    private readonly discovery: FileDiscovery,
    private readonly reporter: ErrorReporter,
    /** how long a draining file must be quiet at its end before its stream ends */
    private readonly graceMs: number,
  ) {}

  /** Checks every open file against a fresh stat of it and the candidates seen by path. */
  async checkOpenFiles(seen: Map<string, FileStat>, now: number): Promise<void> {
    const byKey = pathsByKey(seen);
    for (const h of this.streams.list()) {
      let st: FileStat;
      try {
        st = await h.stat();
      } catch (err) {
        this.reporter.report(h.info.path, err, h.info.id);
        continue;
      }
      const changed = h.noteStat(st.size, st.mtimeMs);
      if (st.size < h.readPos || (changed && !(await h.headIntact()))) {
        await this.streams.end(h, 'truncated');
        continue;
      }
      const paths = byKey.get(h.key);
      if (paths?.length) {
        if (!paths.includes(h.info.path)) this.streams.moved(h, paths[0]!);
        continue;
      }
      if (h.draining) continue;
      // the watched path no longer leads to this file: renamed away, or deleted
      const [dev, ino] = h.key.split(':') as [string, string];
      const movedTo = await findByInode(dirname(h.info.path), dev, ino);
      if (movedTo && this.discovery.matches(movedTo)) {
        this.discovery.found(movedTo);
        this.streams.moved(h, movedTo);
      } else this.streams.drain(h, h.info.path, movedTo, now);
    }
  }

  /**
   * For a draining file read up to its end: once it has been quiet for the grace period, a last read
   * (anything written since the stat is still read before the end), and if that finds nothing, the end.
   */
  async endIfDrained(h: Harvester, buf: Buffer, now: number): Promise<void> {
    const d = h.draining;
    if (!d || now - Math.max(d.since, h.lastDataAt) < this.graceMs) return;
    if ((await h.read(buf, Number.MAX_SAFE_INTEGER, () => false, now)) === 0) await this.streams.end(h, d.reason);
  }
}
