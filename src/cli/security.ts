import type { Command } from 'commander';
import {
  AllowList,
  checkBindSecurity,
  loadKeyPair,
  loadPublicKey,
  type CurveClientConfig,
  type CurveKeyPair,
  type CurveServerConfig,
} from '../security/curve.js';
import type { ServerEndpoint } from '../transport/endpoint.js';

// The CURVE options of the service commands and what they turn into. A service that binds (master, monitor,
// logserver) takes its key pair and allow-lists; a process that connects takes its key pair and the public key of
// each server it connects to (--server-key for all of them, or --master-key, --monitor-key, --logserver-key each).
// A process may connect to several masters (--master given more than once): --master-key then once for all of
// them (masters sharing a key pair), or once per --master, in the same order.
// Only file paths pass through options and logs, never key text.

export type ServerName = 'master' | 'monitor' | 'logserver';

export interface CurveFlags {
  curveSecret?: string;
  curvePublic?: string;
  allow?: string[];
  insecure?: boolean;
  serverKey?: string;
  /** repeatable: one key for every master, or one per --master */
  masterKey?: string[];
  monitorKey?: string;
  logserverKey?: string;
}

/** Commander argument parser for a repeatable option: every value, in order. */
export const repeatable = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * Adds the CURVE options to a command: its own key pair always; `server` adds --allow and --insecure (for the
 * ports it binds); `connectsTo` adds --server-key and one --NAME-key per server it connects to.
 */
export function addCurveOptions(cmd: Command, opts: { server: boolean; connectsTo: ServerName[] }): Command {
  cmd
    .option('--curve-secret <file>', 'this process\'s CURVE secret key (from `slowq keys`); turns on encryption and authentication')
    .option('--curve-public <file>', 'its public key, checked against the secret key (default: derived from it)');
  if (opts.server) {
    cmd
      .option('--allow <dir|file>', 'public keys allowed to connect: a directory of *.pub files or a file of keys, one per line (repeatable)', repeatable)
      .option('--insecure', 'allow binding a non-loopback address without CURVE (anyone who can reach the port can connect)');
  }
  if (opts.connectsTo.length > 0) {
    cmd.option('--server-key <file>', `public key of the server this process connects to (the default for ${opts.connectsTo.map((s) => `--${s}-key`).join(', ')})`);
    for (const s of opts.connectsTo) {
      if (s === 'master') cmd.option('--master-key <file>', 'public key of the master (repeatable: one per --master, in the same order, or one for all)', repeatable);
      else cmd.option(`--${s}-key <file>`, `public key of the ${s}`);
    }
  }
  return cmd;
}

const loaded = new WeakMap<CurveFlags, CurveKeyPair | undefined>();

/** This process's key pair (--curve-secret, --curve-public), loaded once per parsed command; undefined without one. */
export function ownKeys(flags: CurveFlags): CurveKeyPair | undefined {
  if (loaded.has(flags)) return loaded.get(flags);
  let keys: CurveKeyPair | undefined;
  if (flags.curveSecret !== undefined) {
    const pair = loadKeyPair(flags.curveSecret, flags.curvePublic);
    for (const w of pair.warnings) process.stderr.write(`slowq: warning: ${w}\n`);
    keys = pair.keys;
  } else if (flags.curvePublic !== undefined) {
    throw new Error('--curve-public needs --curve-secret (the secret key it belongs to)');
  }
  loaded.set(flags, keys);
  return keys;
}

/** The server-side CURVE config (own keys and the --allow list), or undefined when the service runs without CURVE. */
export function serverCurve(flags: CurveFlags, allow: string[] | undefined = flags.allow): CurveServerConfig | undefined {
  const keys = ownKeys(flags);
  if (!keys) {
    if (allow && allow.length > 0) throw new Error('--allow needs --curve-secret (this service\'s own key pair): the allow-list is enforced by CURVE');
    return undefined;
  }
  if (!allow || allow.length === 0) throw new Error('--curve-secret needs --allow DIR|FILE: the public keys of the clients allowed to connect');
  return { keys, allow: AllowList.load(allow) };
}

/** An allow-list from --allow-style sources, or undefined when none are given. */
export function allowListFrom(sources: string[] | undefined): AllowList | undefined {
  return sources && sources.length > 0 ? AllowList.load(sources) : undefined;
}

/** The client-side CURVE config for connecting to `server`, or undefined when that connection is plain. */
export function clientCurve(flags: CurveFlags, server: ServerName): CurveClientConfig | undefined {
  const specific = { master: flags.masterKey?.[0], monitor: flags.monitorKey, logserver: flags.logserverKey }[server];
  const file = specific ?? flags.serverKey;
  if (file === undefined) return undefined;
  const keys = ownKeys(flags);
  if (!keys) throw new Error(`${specific ? `--${server}-key` : '--server-key'} needs --curve-secret: this process's own key pair (make one with \`slowq keys\`)`);
  return { keys, serverKey: loadPublicKey(file) };
}

/**
 * The masters a client or consumer connects to (--master, repeatable; `fallback` when none is given), each with its
 * CURVE side: --master-key once for all, or once per --master in order; else --server-key.
 */
export function masterEndpoints(flags: CurveFlags & { master?: string[] }, fallback: string): ServerEndpoint[] {
  const masters = flags.master && flags.master.length > 0 ? flags.master : [fallback];
  const keys = flags.masterKey ?? [];
  if (keys.length > 1 && keys.length !== masters.length) {
    throw new Error(`--master-key given ${keys.length} times for ${masters.length} --master endpoints: give it once (one key for every master) or once per --master, in the same order`);
  }
  return masters.map((endpoint, i) => {
    const file = keys.length > 1 ? keys[i] : keys[0];
    const curve = clientCurve({ ...flags, masterKey: file === undefined ? undefined : [file] }, 'master');
    return { endpoint, ...(curve && { curve }) };
  });
}

/** Throws a clear error when `endpoint` is beyond loopback and neither CURVE nor --insecure is given. */
export function checkBind(service: string, endpoint: string, flags: CurveFlags, secured: boolean): void {
  checkBindSecurity(service, endpoint, secured, flags.insecure === true);
}

/** The CURVE options again, as arguments for a child process (for `slowq up`). */
export function curveArgs(files: { secret?: string; allow?: string[]; serverKey?: string; keys?: Partial<Record<ServerName, string>> }): string[] {
  const args: string[] = [];
  if (files.secret) args.push('--curve-secret', files.secret);
  for (const a of files.allow ?? []) args.push('--allow', a);
  if (files.serverKey) args.push('--server-key', files.serverKey);
  for (const [server, file] of Object.entries(files.keys ?? {})) if (file) args.push(`--${server}-key`, file);
  return args;
}
