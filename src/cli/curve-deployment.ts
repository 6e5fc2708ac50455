import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureKeyPair } from '../security/curve.js';
import { curveArgs } from './security.js';

// The key layout `slowq up --curve-dir DIR` makes (or reuses) so that every connection of a one-host deployment is
// CURVE with allow-lists, and the arguments that give each service its keys:
//
//   DIR/master.key|pub  DIR/monitor.key|pub  DIR/logserver.key|pub     the servers' key pairs
//   DIR/consumers/NAME.key|pub                                           one per consumer
//   DIR/clients/client.key|pub                                           a client key pair; every *.pub here is allowed
//   DIR/operators/operator.key|pub                                       for `slowq silence` and `slowq cluster`; every *.pub here is allowed
//
// Who admits whom: the master's client port admits DIR/clients/*.pub, its consumer port DIR/consumers/*.pub and the
// operators (`slowq cluster` changes the ring there); the
// monitor admits the consumers, the master and the operators; the logserver admits everyone who logs to it.

export interface CurveDeployment {
  dir: string;
  logserver: string[];
  monitor: string[];
  master: string[];
  consumer(name: string): string[];
  /** the options a client of this deployment needs */
  client: string[];
  /** the options `slowq silence` needs */
  operator: string[];
  /** the options `slowq cluster` needs */
  cluster: string[];
  created: string[];
}

export function curveDeployment(dirArg: string, consumerNames: string[]): CurveDeployment {
  const dir = resolve(dirArg);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const consumers = join(dir, 'consumers');
  const clients = join(dir, 'clients');
  const operators = join(dir, 'operators');
  const created: string[] = [];
  const pair = (where: string, name: string): { secretFile: string; publicFile: string } => {
    const p = ensureKeyPair(where, name);
    if (p.created) created.push(p.secretFile);
    return p;
  };
  const master = pair(dir, 'master');
  const monitor = pair(dir, 'monitor');
  const logserver = pair(dir, 'logserver');
  const consumerKeys = new Map(consumerNames.map((n) => [n, pair(consumers, n)]));
  const client = pair(clients, 'client');
  const operator = pair(operators, 'operator');
  return {
    dir,
    logserver: curveArgs({ secret: logserver.secretFile, allow: [consumers, clients, master.publicFile, monitor.publicFile] }),
    monitor: curveArgs({ secret: monitor.secretFile, allow: [consumers, operators, master.publicFile], keys: { logserver: logserver.publicFile } }),
    master: [
      ...curveArgs({ secret: master.secretFile, allow: [clients], keys: { monitor: monitor.publicFile, logserver: logserver.publicFile } }),
      '--allow-consumers', consumers, '--allow-consumers', operators,
    ],
    consumer: (name) => {
      const own = consumerKeys.get(name);
      if (!own) throw new Error(`no key pair for consumer ${name}`);
      return curveArgs({ secret: own.secretFile, keys: { master: master.publicFile, monitor: monitor.publicFile, logserver: logserver.publicFile } });
    },
    client: curveArgs({ secret: client.secretFile, serverKey: master.publicFile, keys: { logserver: logserver.publicFile } }),
    operator: curveArgs({ secret: operator.secretFile, serverKey: monitor.publicFile }),
    cluster: curveArgs({ secret: operator.secretFile, keys: { master: master.publicFile } }),
    created,
  };
}
