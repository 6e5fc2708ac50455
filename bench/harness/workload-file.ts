import { appendFileSync } from 'node:fs';
import { WorkloadGenerator, type WorkloadOptions } from '../../src/workload/generator.js';

/** A log file a test or bench writes a generated workload into, phase by phase, counting the records written. */
export class WorkloadFile {
  written = 0;
  private readonly gen: WorkloadGenerator;

  constructor(readonly path: string, opts: WorkloadOptions) {
    this.gen = new WorkloadGenerator(opts);
  }

  append(records: number): void {
    let text = '';
    for (let i = 0; i < records; i++) text += JSON.stringify(this.gen.next()) + '\n';
    appendFileSync(this.path, text);
    this.written += records;
  }
}
