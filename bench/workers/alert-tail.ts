import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

// The reader of `slowq bench e2e`'s latency run: tails alerts.jsonl and prints, for each alert line, the moment it
// saw the line (ms since the epoch, to the µs) and the alert's statement as JSON, tab-separated. A process of its
// own because the bench's process, which generates and appends the log, polls the services' metrics and holds the
// samples, stops for its own garbage collections (scavenges of 18–27 ms in a latency run, `node --trace-gc`): read
// there, an alert written during such a pause was timed at its end. This one holds next to nothing and looks every
// millisecond. Stops on SIGTERM after a last read.
// Usage: node alert-tail.js ALERTS_FILE START_BYTE

const [file, start] = process.argv.slice(2);
if (!file || start === undefined || !Number.isSafeInteger(Number(start))) throw new Error('usage: alert-tail ALERTS_FILE START_BYTE');
const fd = openSync(file, 'r');
const buf = Buffer.allocUnsafe(1 << 20);
const decoder = new StringDecoder('utf8');
let pos = Number(start);
let partial = '';
let stopping = false;
process.once('SIGTERM', () => (stopping = true));

function poll(): void {
  const seen: string[] = [];
  for (;;) {
    const got = readSync(fd, buf, 0, buf.length, pos);
    if (got === 0) break;
    pos += got;
    const at = performance.timeOrigin + performance.now();
    const lines = (partial + decoder.write(buf.subarray(0, got))).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line) seen.push(`${at.toFixed(3)}\t${JSON.stringify((JSON.parse(line) as { sql?: string }).sql ?? '')}`);
    }
  }
  if (seen.length > 0) process.stdout.write(`${seen.join('\n')}\n`);
  if (stopping) {
    closeSync(fd);
    return;
  }
  setTimeout(poll, 1);
}
poll();
