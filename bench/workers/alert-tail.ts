import { closeSync, openSync } from 'node:fs';
import { AppendedLines } from '../harness/files.js';

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
const alerts = new AppendedLines(fd, Number(start), file);
let stopping = false;
process.once('SIGTERM', () => (stopping = true));

function poll(): void {
  const seen: string[] = [];
  alerts.read((line) => {
    if (line) seen.push(`${(performance.timeOrigin + performance.now()).toFixed(3)}\t${JSON.stringify((JSON.parse(line) as { sql?: string }).sql ?? '')}`);
  });
  if (seen.length > 0) process.stdout.write(`${seen.join('\n')}\n`);
  if (stopping) {
    closeSync(fd);
    return;
  }
  setTimeout(poll, 1);
}
poll();
