import type { Alert } from '../../model/record.js';
import type { AlertOutput } from './output.js';

// A short human line per alert, for a terminal. Prints only alerts accepted while it runs (a restart
// does not reprint history).

export function formatAlertLine(a: Alert): string {
  const secs = (a.durationMs / 1000).toFixed(a.durationMs < 10_000 ? 2 : 1);
  const where = [a.source, a.db, a.user].filter(Boolean).join(' ');
  const sql = a.fingerprint.length > 100 ? a.fingerprint.slice(0, 99) + '…' : a.fingerprint;
  return `${a.at}  ${a.type.toUpperCase().padEnd(12)} ${a.severity.padEnd(8)} ${secs.padStart(8)}s  ${where}  ${sql}  [${a.fingerprintId.slice(-16)}]`;
}

export class StdoutOutput implements AlertOutput {
  readonly name = 'stdout';
  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(l)) {}
  async open(): Promise<void> {}
  async deliver(alerts: readonly Alert[]): Promise<void> {
    let out = '';
    for (const a of alerts) out += formatAlertLine(a) + '\n';
    if (out) this.write(out);
  }
  async close(): Promise<void> {}
}
