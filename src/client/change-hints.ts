import { watch, type FSWatcher } from 'node:fs';

// Change notifications (inotify, through fs.watch) on the files being read, used only as a hint that the poll
// loop should run now rather than at its next poll: the poll stays the source of truth, because notifications
// are not reliable for data (lost on overflow, absent on some filesystems, not followed across every rename).
// What they buy is latency: with the default 100 ms poll a line waited ~50 ms on average before it was even read;
// woken by its write, it waits for the next cycle only.
//
// One watch per open harvester (by stream id, so a new file at a rotated path gets its own watch on its own
// inode). A watch that cannot be made (the file vanished, the inotify watch limit reached) is not tried again
// for that stream: its file is still polled.

export class ChangeHints {
  private readonly watchers = new Map<string, FSWatcher>();
  /** streams whose watch could not be made or failed: polled only */
  private readonly unwatched = new Set<string>();

  constructor(private readonly onChange: () => void) {}

  /** streams whose file has no watch (it could not be made): for the client's stats */
  get unwatchedCount(): number {
    return this.unwatched.size;
  }

  /** Watches exactly these streams' files (id → path): new ones get a watch, gone ones lose theirs. */
  track(files: ReadonlyMap<string, string>): void {
    for (const [id, w] of this.watchers) {
      if (files.has(id)) continue;
      w.close();
      this.watchers.delete(id);
    }
    for (const id of this.unwatched) if (!files.has(id)) this.unwatched.delete(id);
    for (const [id, path] of files) {
      if (this.watchers.has(id) || this.unwatched.has(id)) continue;
      try {
        const w = watch(path, { persistent: false }, this.onChange);
        w.on('error', () => {
          w.close();
          this.watchers.delete(id);
          this.unwatched.add(id);
        });
        this.watchers.set(id, w);
      } catch {
        this.unwatched.add(id);
      }
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.unwatched.clear();
  }
}
