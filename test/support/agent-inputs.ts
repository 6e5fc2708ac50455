import mysql from 'mysql2/promise';
import type { MariaDbServer } from './dbservers.js';

// What the agent tests feed an agent with: PostgreSQL stderr lines with a non-default prefix, and a statement
// a probe sees running. Shared by test/agent.test.ts and the installed-package test.

/** the log_line_prefix of pgLines */
export const PG_PREFIX = '%m [%p] %u@%d ';

/** PostgreSQL stderr lines with PG_PREFIX: every 10th statement slow (1.5 s), the rest quick. */
export function pgLines(from: number, count: number): string {
  let text = '';
  for (let i = from; i < from + count; i++) {
    const ts = new Date(Date.UTC(2026, 10, 22, 7, 0, 0) + i * 10).toISOString().replace('T', ' ').replace('Z', ' UTC');
    const duration = i % 10 === 0 ? 1500 : 5;
    text += `${ts} [${1000 + (i % 50)}] app@shop LOG:  duration: ${duration}.000 ms  statement: SELECT * FROM t${i % 7} WHERE id = ${i}\n`;
  }
  return text;
}

/** Runs SELECT SLEEP(seconds) on the server: a statement a probe sees running. */
export async function sleepOnServer(db: MariaDbServer, seconds: number): Promise<void> {
  const c = await mysql.createConnection({ host: db.host, port: db.port, user: 'root' });
  try {
    await c.query(`SELECT SLEEP(${seconds})`);
  } finally {
    await c.end();
  }
}
