import { defaultConsumerNames } from '../src/master/rendezvous.js';
import { Pipeline, PipelinePorts } from './harness/pipeline.js';
import { sleep } from './harness/wait.js';

// The server side as `slowq up` runs it (logserver, monitor, master, M consumers: the real CLI processes on
// loopback), but started service by service through the harness's pipeline, so the bench knows every pid and
// can choose per-run options (e.g. a clearly labelled --no-fsync run). The caller stops it (pipeline.stop()),
// also when the bench fails.

export interface ServerSideOptions {
  data: string;
  base: number;
  consumers: number;
  fsync: boolean;
  logLevel?: string;
  /** more arguments for every consumer */
  consumerArgs?: string[];
  /** serve the monitor's HTTP side (dashboard, /metrics) on BASE+4, as `slowq up` does */
  monitorHttp?: boolean;
}

/** Starts the server side and waits until every consumer has loaded its state and said hello to the master. */
export async function startServerSide(opts: ServerSideOptions): Promise<Pipeline> {
  const p = Pipeline.start({
    data: opts.data,
    base: opts.base,
    consumers: defaultConsumerNames(opts.consumers),
    consumerArgs: [...(opts.fsync ? [] : ['--no-fsync']), ...(opts.consumerArgs ?? [])],
    serviceArgs: ['--log-level', opts.logLevel ?? 'info'],
    ...(opts.monitorHttp && { monitorArgs: ['--http-port', String(new PipelinePorts(opts.base).http)] }),
  });
  try {
    await p.ready();
  } catch (err) {
    await p.stop(5000);
    throw err;
  }
  await sleep(300); // the consumers' hello has reached the master
  return p;
}
