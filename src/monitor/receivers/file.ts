import { open, readFile, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert } from '../../protocol/record.js';
import type { Receiver } from './receiver.js';

// Alerts as JSON lines. The file is its own notification log: at start the ids already in it are read
// (a torn last line from a crash is cut off), and accepted alerts missing from it are written, so each
// alert is in the file exactly once across restarts.

export class FileReceiver implements Receiver {
  readonly name: string;
  private fh: FileHandle | undefined;
  private readonly written = new Set<string>();

  constructor(private readonly path: string, private readonly fsync = true) {
    this.name = `file:${path}`;
  }

  async open(accepted: readonly Alert[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let good = 0;
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      if (nl === -1) break;
      const line = text.slice(pos, nl);
      try {
        const id = (JSON.parse(line) as { id?: unknown }).id;
        if (typeof id === 'string') this.written.add(id);
      } catch {
        // a damaged line in the middle stays as it is: only the tail is ours to repair
      }
      pos = nl + 1;
      good += Buffer.byteLength(line) + 1;
    }
    this.fh = await open(this.path, 'a+');
    const size = (await this.fh.stat()).size;
    if (size > good) await this.fh.truncate(good); // a line torn by a crash
    await this.deliver(accepted.filter((a) => !this.written.has(a.id)));
  }

  async deliver(alerts: readonly Alert[]): Promise<void> {
    if (!this.fh) throw new Error('file receiver is not open');
    let out = '';
    for (const a of alerts) {
      if (this.written.has(a.id)) continue;
      this.written.add(a.id);
      out += JSON.stringify(a) + '\n';
    }
    if (out.length === 0) return;
    await this.fh.write(out);
    if (this.fsync) await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}
