import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import * as zmq from 'zeromq';

// ZeroMQ CURVE keys for slowq: Z85 text (ZeroMQ RFC 32), key files, allow-lists of client public keys, and the
// socket options that switch a socket to CURVE. A secret key's text never leaves this module in an error message
// or a log line: errors name the file and what is wrong with it; logs show paths and public-key fingerprints.

const Z85_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < Z85_ALPHABET.length; i++) Z85_VALUE[Z85_ALPHABET.charCodeAt(i)] = i;

/** A CURVE key is 32 bytes; as Z85 text, 40 characters. */
export const KEY_BYTES = 32;
export const KEY_TEXT_LENGTH = 40;

/** A key pair as Z85 text (what zeromq's curve* socket options take). */
export interface CurveKeyPair {
  publicKey: string;
  secretKey: string;
}

/** What a CURVE server socket needs: its own key pair and who may connect. */
export interface CurveServerConfig {
  keys: CurveKeyPair;
  allow: AllowList;
}

/** What a CURVE client socket needs: its own key pair and the public key of the server it connects to. */
export interface CurveClientConfig {
  keys: CurveKeyPair;
  serverKey: string;
}

export class KeyFileError extends Error {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'KeyFileError';
  }
}

export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new Error(`Z85 encodes multiples of 4 bytes, got ${data.length}`);
  let out = '';
  for (let i = 0; i < data.length; i += 4) {
    let value = ((data[i]! << 24) >>> 0) + (data[i + 1]! << 16) + (data[i + 2]! << 8) + data[i + 3]!;
    const chunk = new Array<string>(5);
    for (let k = 4; k >= 0; k--) {
      chunk[k] = Z85_ALPHABET[value % 85]!;
      value = Math.floor(value / 85);
    }
    out += chunk.join('');
  }
  return out;
}

/** Decoded bytes, or a description of what is wrong (never the text itself: it may be a secret). */
export function z85Decode(text: string): Buffer | string {
  if (text.length % 5 !== 0) return `Z85 text must be a multiple of 5 characters long, got ${text.length}`;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let k = 0; k < 5; k++) {
      const code = text.charCodeAt(i + k);
      const digit = code < 128 ? Z85_VALUE[code]! : -1;
      if (digit < 0) return `character ${i + k + 1} is not a Z85 character`;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return `characters ${i + 1}-${i + 5} are out of the Z85 range`;
    out.writeUInt32BE(value, (i / 5) * 4);
  }
  return out;
}

/** The key's problem, if the text is not a 40-character Z85 CURVE key; undefined if it is one. */
export function keyTextProblem(text: string): string | undefined {
  if (text.length !== KEY_TEXT_LENGTH) return `expected a ${KEY_TEXT_LENGTH}-character Z85 CURVE key, found ${text.length} characters`;
  const decoded = z85Decode(text);
  return typeof decoded === 'string' ? decoded : undefined;
}

// X25519 keys wrapped in the fixed DER headers Node's crypto takes (RFC 8410), to derive a public key from a secret.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key belonging to a secret key (CURVE keys are Curve25519, as X25519 in Node's crypto). */
export function publicKeyOf(secretKey: string): string {
  const secret = z85Decode(secretKey);
  if (typeof secret === 'string' || secret.length !== KEY_BYTES) throw new Error('not a CURVE secret key');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return z85Encode(spki.subarray(spki.length - KEY_BYTES));
}

/** A short, stable, printable name for a public key (for logs and listings): sha256 of the raw key, 16 hex digits. */
export function fingerprint(publicKey: string | Uint8Array): string {
  const raw = typeof publicKey === 'string' ? z85Decode(publicKey) : Buffer.from(publicKey);
  if (typeof raw === 'string') return 'invalid-key';
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function newKeyPair(): CurveKeyPair {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { publicKey, secretKey };
}

/** Key lines of a key file: blank lines and `#` comments skipped, with their line numbers. */
function keyLines(text: string): Array<{ line: number; key: string }> {
  const out: Array<{ line: number; key: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (t !== '' && !t.startsWith('#')) out.push({ line: i + 1, key: t });
  });
  return out;
}

function readKeyFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(file, `cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The one key in a key file (a `slowq keys` .key or .pub file), validated. */
function loadOneKey(file: string, what: string): string {
  const lines = keyLines(readKeyFile(file, what));
  if (lines.length === 0) throw new KeyFileError(file, `no ${what} in the file (expected one ${KEY_TEXT_LENGTH}-character Z85 key)`);
  if (lines.length > 1) throw new KeyFileError(file, `expected one ${what}, found ${lines.length} key lines (lines ${lines.map((l) => l.line).join(', ')})`);
  const { line, key } = lines[0]!;
  const problem = keyTextProblem(key);
  if (problem) throw new KeyFileError(file, `line ${line}: not a valid ${what}: ${problem}`);
  return key;
}

export interface LoadedKeyPair {
  keys: CurveKeyPair;
  /** things worth a warning (e.g. a secret key file others can read), naming the file */
  warnings: string[];
}

/**
 * A key pair from its secret key file; the public key is derived, or read from `publicFile` and checked to belong
 * to the secret key.
 */
export function loadKeyPair(secretFile: string, publicFile?: string): LoadedKeyPair {
  const secretKey = loadOneKey(secretFile, 'CURVE secret key');
  const derived = publicKeyOf(secretKey);
  if (publicFile !== undefined) {
    const given = loadOneKey(publicFile, 'CURVE public key');
    if (given !== derived) throw new KeyFileError(publicFile, `this public key does not belong to the secret key in ${secretFile}`);
  }
  const warnings: string[] = [];
  try {
    const mode = statSync(secretFile).mode;
    if ((mode & 0o077) !== 0) warnings.push(`${secretFile}: secret key file is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  } catch {
    // it was just read; a stat failure here changes nothing
  }
  return { keys: { publicKey: derived, secretKey }, warnings };
}

/** A public key file (e.g. the server's `.pub`), validated. */
export function loadPublicKey(file: string): string {
  return loadOneKey(file, 'CURVE public key');
}

/** An allow-list re-reads its files on an unknown key at most this often. */
export const RELOAD_MIN_MS = 10_000;

/** Where an allowed key came from: a name (the file's base name without .pub) and the file. */
export interface AllowedKey {
  name: string;
  file: string;
}

/**
 * Public keys allowed to connect, from files and directories. A directory contributes every `*.pub` file in it
 * (so a `slowq keys --out DIR` directory can be given as is: its secret `.key` files are not read); a file holds one
 * or more keys, one per line, `#` comments and blank lines ignored.
 */
export class AllowList {
  private keys = new Map<string, AllowedKey>();
  private loadedAt = Date.now();
  /** why the last re-read failed (the previous keys stay in force), if it did */
  reloadError: string | undefined;

  private constructor(readonly sources: readonly string[]) {}

  static load(sources: readonly string[]): AllowList {
    if (sources.length === 0) throw new Error('an allow-list needs at least one file or directory of public keys');
    const list = new AllowList(sources);
    for (const source of sources) list.addSource(source);
    if (list.size === 0) throw new KeyFileError(sources.join(', '), 'no public keys found (a directory contributes its *.pub files)');
    return list;
  }

  /** Keys given directly (tests, embedding). */
  static of(keys: Record<string, string>): AllowList {
    const list = new AllowList([]);
    for (const [name, key] of Object.entries(keys)) {
      const problem = keyTextProblem(key);
      if (problem) throw new Error(`allowed key ${name}: ${problem}`);
      list.keys.set(key, { name, file: '' });
    }
    return list;
  }

  get size(): number {
    return this.keys.size;
  }

  /**
   * Who a raw 32-byte public key (as a ZAP request carries it) is, or undefined if it is not allowed. An unknown key
   * makes the list re-read its files (at most every RELOAD_MIN_MS), so a client's .pub added to an allowed
   * directory is admitted without a restart.
   */
  lookup(rawPublicKey: Uint8Array): AllowedKey | undefined {
    if (rawPublicKey.length !== KEY_BYTES) return undefined;
    const key = z85Encode(rawPublicKey);
    const hit = this.keys.get(key);
    if (hit || this.sources.length === 0 || Date.now() - this.loadedAt < RELOAD_MIN_MS) return hit;
    this.reload();
    return this.keys.get(key);
  }

  private reload(): void {
    this.loadedAt = Date.now();
    try {
      this.keys = AllowList.load(this.sources).keys;
      this.reloadError = undefined;
    } catch (err) {
      this.reloadError = (err as Error).message;
    }
  }

  has(publicKey: string): boolean {
    return this.keys.has(publicKey);
  }

  private addSource(source: string): void {
    let isDir: boolean;
    try {
      isDir = statSync(source).isDirectory();
    } catch (err) {
      throw new KeyFileError(source, `cannot read the allow-list (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!isDir) return this.addFile(source);
    for (const entry of readdirSync(source).filter((n) => n.endsWith('.pub')).sort()) this.addFile(join(source, entry));
  }

  private addFile(file: string): void {
    const name = basename(file).replace(/\.pub$/, '');
    for (const { line, key } of keyLines(readKeyFile(file, 'allow-list'))) {
      const problem = keyTextProblem(key);
      if (problem) throw new KeyFileError(file, `line ${line}: not a CURVE public key: ${problem}`);
      if (!this.keys.has(key)) this.keys.set(key, { name, file });
    }
  }
}

export interface WrittenKeyPair {
  secretFile: string;
  publicFile: string;
  publicKey: string;
}

/**
 * Writes NAME.key (secret, mode 0600, created exclusively: an existing key is never overwritten) and NAME.pub.
 * The directory is created (mode 0700) if missing.
 */
export function writeKeyPair(dir: string, name: string, keys: CurveKeyPair = newKeyPair()): WrittenKeyPair {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`key name "${name}" must be letters, digits, '.', '_' or '-'`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secretFile = join(dir, `${name}.key`);
  const publicFile = join(dir, `${name}.pub`);
  writeNew(secretFile, `# slowq CURVE secret key "${name}": keep it private\n${keys.secretKey}\n`, 0o600);
  writeNew(publicFile, publicFileText(name, keys.publicKey), 0o644);
  return { secretFile, publicFile, publicKey: keys.publicKey };
}

function writeNew(file: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(file, 'already exists; not overwriting a key (remove it first to replace it)');
    throw new KeyFileError(file, `cannot create (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The key pair NAME in DIR, made first if it does not exist yet (for `slowq up --curve-dir`). */
export function ensureKeyPair(dir: string, name: string): { secretFile: string; publicFile: string; created: boolean } {
  const secretFile = join(dir, `${name}.key`);
  const publicFile = join(dir, `${name}.pub`);
  if (!existsSync(secretFile)) {
    writeKeyPair(dir, name);
    return { secretFile, publicFile, created: true };
  }
  const { keys } = loadKeyPair(secretFile);
  if (!existsSync(publicFile)) writeNew(publicFile, publicFileText(name, keys.publicKey), 0o644);
  else if (loadPublicKey(publicFile) !== keys.publicKey) throw new KeyFileError(publicFile, `does not belong to the secret key in ${secretFile}`);
  return { secretFile, publicFile, created: false };
}

function publicFileText(name: string, publicKey: string): string {
  return `# slowq CURVE public key "${name}" (fingerprint ${fingerprint(publicKey)})\n${publicKey}\n`;
}

// Socket options. A CURVE server socket lives in the context of its ZAP handler (see zap.ts); the options below
// are spread into the socket's constructor options.

export interface CurveServerSocketOptions {
  curveServer: true;
  curveSecretKey: string;
  zapDomain: string;
}

export function curveServerOptions(keys: CurveKeyPair, zapDomain: string): CurveServerSocketOptions {
  return { curveServer: true, curveSecretKey: keys.secretKey, zapDomain };
}

export interface CurveClientSocketOptions {
  curveServerKey: string;
  curvePublicKey: string;
  curveSecretKey: string;
}

/** Options for a socket that connects to a CURVE server; none (a plain socket) without a config. */
export function curveClientOptions(config: CurveClientConfig | undefined): CurveClientSocketOptions | Record<string, never> {
  if (!config) return {};
  return { curveServerKey: config.serverKey, curvePublicKey: config.keys.publicKey, curveSecretKey: config.keys.secretKey };
}

/** Whether a bind address only accepts connections from this host (loopback). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === 'lo' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** The host of a tcp:// endpoint; undefined for transports that do not leave the host (ipc, inproc). */
export function endpointHost(endpoint: string): string | undefined {
  const m = /^(tcp|ws|wss|udp|pgm|epgm|norm|vmci|tipc):\/\/(.*)$/i.exec(endpoint);
  if (!m) return undefined;
  const rest = m[2]!;
  const bracketed = /^\[([^\]]*)\]/.exec(rest);
  if (bracketed) return bracketed[1]!;
  const hostPort = rest.split('/')[0]!;
  const colon = hostPort.lastIndexOf(':');
  const host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
  // tcp://IFACE;HOST:PORT binds on IFACE
  return host.split(';')[0]!;
}

/**
 * Refuses to bind beyond loopback without CURVE: anyone who can reach the port could inject records or read alerts.
 * Throws a message that says how to fix it; `insecure` is the operator's explicit acceptance of that risk.
 */
export function checkBindSecurity(service: string, endpoint: string, secured: boolean, insecure: boolean): void {
  if (secured || insecure) return;
  const host = endpointHost(endpoint);
  if (host === undefined || isLoopbackHost(host)) return;
  throw new Error(
    `${service}: refusing to bind ${endpoint} without CURVE: anyone who can reach it could connect unauthenticated and unencrypted. ` +
      'Give --curve-secret FILE and --allow DIR|FILE (make keys with `slowq keys`), or --insecure to accept the risk (e.g. on a private network).',
  );
}

/**
 * Logs why a connection to `server` fails its security handshake (refused key, wrong server key, CURVE on one side
 * only), once a minute per kind: without this a refused client just waits for acks that never come.
 */
export function watchClientHandshake(socket: zmq.Socket, log: Logger, server: string, config: CurveClientConfig | undefined): void {
  const lastLogged = new Map<string, number>();
  const once = (kind: string, obj: object, msg: string): void => {
    const now = Date.now();
    if (now - (lastLogged.get(kind) ?? -Infinity) < 60_000) return;
    lastLogged.set(kind, now);
    log.error(obj, msg);
  };
  const mine = config ? { key: fingerprint(config.keys.publicKey), serverKey: fingerprint(config.serverKey) } : {};
  socket.events.on('handshake:error:auth', (event) => once('auth', { server, endpoint: event.address, status: event.error.status, ...mine },
    `${server} refused this process's CURVE key: add its public key (.pub file) to the ${server}'s --allow list`));
  socket.events.on('handshake:error:protocol', (event) => {
    const code = event.error.code;
    const msg = code === 'ERR_ZMTP_MECHANISM_MISMATCH'
      ? config
        ? `${server} does not use CURVE but this process does (--curve-secret/--server-key given)`
        : `${server} requires CURVE: give --curve-secret (this process's key) and --server-key (the ${server}'s public key)`
      : `CURVE handshake with ${server} failed (${code}); check --server-key is the ${server}'s public key`;
    once(code, { server, endpoint: event.address, reason: code, ...mine }, msg);
  });
  if (config) {
    // a wrong server key shows on this side only as the server hanging up during the handshake
    socket.events.on('handshake:error:other', (event) => once('other', { server, endpoint: event.address, reason: event.error.code ?? event.error.message, ...mine },
      `CURVE handshake with ${server} failed; check --server-key is the ${server}'s public key`));
  }
}
