import { readFileSync } from 'node:fs';
import { ChunkParsers } from './dist/src/formats/chunk-parse.js';
const bytes = readFileSync(process.argv[2]);
const p = new ChunkParsers();
for (let r = 0; r < 4; r++) {
  const c0 = process.cpuUsage();
  const out = p.parse('mysql-slow', {}, bytes, { offset: 0, line: 0, context: undefined }, true);
  const c = process.cpuUsage(c0);
  console.log(out.events.length, 'events', Math.round(out.events.length / ((c.user + c.system) / 1e6)), 'events/CPU-s');
}
