import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathsByKey } from './discovery.js';
import type { ErrorReporter } from './error-reporter.js';
import { findByInode, identityKey, matchesIdentity, openIfExists, type FileStat } from './file-identity.js';
import type { StreamInfo, TailerSink } from './harvester.js';
import type { OpenStreams } from './open-streams.js';
import type { Registry, RegistryEntry } from './registry.js';

// Start-up: the streams the registry holds from the last run are matched to files by identity (device,
// inode and first bytes). One still at a watched path resumes at its committed point; one rotated away
// while the client was stopped is found in the same directory and drained first; one whose file is gone,
// truncated or replaced ends, said once. Entries that cannot be checked yet (e.g. EACCES) are retried
// every poll, and a new file at their path waits until they are settled.

export class Restore {
  /** registry entries from the last run not yet matched to a file */
  private pending: RegistryEntry[] = [];

  constructor(
    private readonly registry: Registry,
    private readonly sink: TailerSink,
    private readonly streams: OpenStreams,
    private readonly reporter: ErrorReporter,
  ) {}

  /** Takes the registry's streams as they are at start-up. */
  begin(): void {
    this.pending = this.registry.list();
  }

  /** Paths of streams not settled yet: a new file there must wait. */
  waitingPaths(): string[] {
    return this.pending.map((e) => e.path);
  }

  /** Matches the pending streams to files: resume those still watched, drain those rotated away, end the gone. */
  async run(seen: Map<string, FileStat>, now: number): Promise<void> {
    if (this.pending.length === 0) return;
    const byKey = pathsByKey(seen);
    const order = { active: 0, rotated: 1, ended: 2 } as const;
    const entries = this.pending.sort((a, b) => order[a.status] - order[b.status]);
    const retry: RegistryEntry[] = [];
    for (const e of entries) {
      const info: StreamInfo = { id: e.stream, path: e.rotatedTo ?? e.path };
      if (e.status === 'ended' && e.endSeq !== undefined && e.nextSeq >= e.endSeq) {
        this.sink.ended(info); // finished and acked before the restart: the client can forget it
        continue;
      }
      if (e.status === 'ended' && (e.endReason === 'truncated' || e.endReason === 'gone')) {
        this.streams.endUnreadable(e, info, 'its file was truncated before every event of it was acked');
        continue;
      }
      const key = identityKey(e);
      let found: { path: string; fh: FileHandle } | undefined;
      let failed = false;
      const tryPath = async (path: string): Promise<void> => {
        if (found || failed) return;
        try {
          const fh = await openIfExists(path);
          if (!fh) return;
          if (await matchesIdentity(fh, e, e.offset)) found = { path, fh };
          else await fh.close();
        } catch (err) {
          failed = true;
          this.reporter.report(path, err, e.stream);
        }
      };
      if (!this.streams.has(key)) {
        for (const path of byKey.get(key) ?? []) await tryPath(path);
        const watched = found !== undefined;
        if (!found) {
          for (const dir of new Set([dirname(e.path), dirname(e.rotatedTo ?? e.path)])) {
            const path = await findByInode(dir, e.dev, e.ino);
            if (path) await tryPath(path);
          }
        }
        if (failed && !found) {
          retry.push(e); // e.g. EACCES: try again next poll rather than declare it gone
          continue;
        }
        if (found) {
          const h = await this.streams.open(found.path, found.fh, e, now);
          if (watched && e.status === 'active') {
            if (found.path !== e.path) this.registry.update(e.stream, { path: found.path });
          } else if (watched) {
            this.registry.update(e.stream, { status: 'active', path: found.path, rotatedTo: undefined, endReason: undefined, endSeq: undefined });
          } else {
            this.streams.drain(h, e.path, found.path, now);
          }
          continue;
        }
      }
      const replaced = byKey.has(key) || this.streams.has(key);
      this.streams.endUnreadable(e, info, replaced ? 'its file was truncated or replaced while the client was stopped' : 'its file is gone');
    }
    this.pending = retry;
  }
}
