import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { rewriteFileInPlace } from './atomic-file.js';

// A data directory belongs to one process at a time: every service that owns one takes this lock at start,
// and a second process on the same directory refuses to start, naming the one that holds it.
//
// The lock is a directory, DIR/slowq.lock, holding owner.json (service, pid, host, since, the process's start
// time and the boot it belongs to). It is made complete under another name and renamed into place: rename(2)
// of a directory onto an existing non-empty one fails, so of two starters exactly one wins.
//
// A lock left by a process that died without releasing it (SIGKILL) is stale and is taken over, so that a
// supervisor can restart a service within milliseconds: the holder is dead when its pid is gone (or a zombie),
// when the pid now belongs to another process (its start time, field 22 of /proc/PID/stat, differs from the
// one recorded), or when the host has rebooted since (another boot id). A lock from another host (a shared
// filesystem) is never judged: it is refused, host named.
//
// Taking over never moves the lock: a starter that moved a lock aside could, in a race, move a live one (just
// taken over by another) and leave the place empty for a third, and two would hold it. Instead every lock
// holds a baton, an empty directory named "free" while nobody is taking the lock over. A taker renames it to
// "claim.PID.START.BOOT.TOKEN" (rename succeeds for exactly one of them), checks that owner.json is still
// the owner it judged dead, rewrites it in place (nothing to allocate: a service killed while its disk is full
// starts again) and renames the baton back to "free". A claim whose claimant died is judged like a lock and
// renamed to the next claimant's name. A lock from before the baton (no "format": 2) is taken over under
// "legacy.TOKEN", made with mkdir (exactly one of them succeeds), and gets its baton then.
//
// proper-lockfile (npm) was not used: it judges staleness by the lock's mtime, which the holder refreshes
// every few seconds, so after a SIGKILL a restart waits out the stale time (10 s by default) or, with a short
// one, a live but busy holder can lose its lock; and it cannot tell whose lock it is. Knowing the holder's pid
// and start time answers "is it still running?" directly, at once.

export const LOCK_NAME = 'slowq.lock';
const OWNER_FILE = 'owner.json';
/** the baton's name while nobody is taking the lock over */
const FREE = 'free';
const CLAIM = 'claim.';
/** a lock with a baton */
const FORMAT = 2;

/** Who holds a lock, as recorded in it. */
export interface LockOwner {
  /** e.g. "consumer-c0", "up" */
  service: string;
  pid: number;
  host: string;
  /** ISO time the lock was taken */
  since: string;
  /** the holder's start time in clock ticks since boot (/proc/PID/stat), null where /proc is not available */
  startTime: string | null;
  /** /proc/sys/kernel/random/boot_id of the holder's boot, null where not available */
  bootId: string | null;
  /** random, different for every acquisition: tells this lock from a later one of the same process */
  token: string;
  /** 2: the lock holds a baton for take-overs; 1: made before batons */
  format: number;
}

/** What this host says about a process: for the staleness checks, and replaceable in tests. */
export interface ProcessProbe {
  host(): string;
  bootId(): string | null;
  /** the process's start time, or null if unknown; undefined if there is no such (live, non-zombie) process */
  startTime(pid: number): string | null | undefined;
}

/** A second process on a data directory: the holder, and what to do about it. */
export class DataDirInUseError extends Error {
  constructor(readonly dir: string, readonly holder: LockOwner, sameHost: boolean) {
    super(
      `data directory ${dir} is in use by ${holder.service} (pid ${holder.pid} on host ${holder.host}, since ${holder.since}); ` +
        (sameHost
          ? 'stop that process first, or give this one another data directory'
          : `${holder.host} is another host sharing this directory: if nothing of slowq runs there on it any more, remove ${join(dir, LOCK_NAME)}`),
    );
    this.name = 'DataDirInUseError';
  }
}

export interface AcquireOptions {
  probe?: ProcessProbe;
  /** the pid recorded (default this process's) */
  pid?: number;
}

export class DataDirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly owner: LockOwner,
    /** the dead holder whose lock this one replaced, if any */
    readonly tookOver: LockOwner | undefined,
  ) {}

  /**
   * Takes the lock on `dir` (made if missing) for `service`. Throws DataDirInUseError if a live process holds
   * it, or another host does; takes over a lock whose holder is dead.
   */
  static acquire(dir: string, service: string, opts: AcquireOptions = {}): DataDirLock {
    const probe = opts.probe ?? linuxProbe;
    const pid = opts.pid ?? process.pid;
    mkdirSync(dir, { recursive: true });
    const token = randomBytes(8).toString('hex');
    const me: LockOwner = {
      service, pid, host: probe.host(), since: new Date().toISOString(), startTime: probe.startTime(pid) ?? null, bootId: probe.bootId(), token, format: FORMAT,
    };
    const lockPath = join(dir, LOCK_NAME);
    const text = JSON.stringify(me) + '\n';
    // Bounded: each round wins, refuses, or sees the lock change hands or being taken over by another starter.
    let waitedFor = 'other processes kept changing it';
    for (let attempt = 0; attempt < 50; attempt++) {
      const holder = readOwner(lockPath);
      if (holder === 'unreadable') {
        if (attempt < 10) {
          pause(5);
          continue;
        }
        throw new Error(`data directory ${dir} has a lock ${lockPath} whose owner cannot be read; if no slowq process uses the directory, remove it`);
      }
      if (holder !== undefined) {
        const verdict = judge(holder, probe);
        if (verdict !== 'stale') throw new DataDirInUseError(dir, holder, verdict === 'alive');
      }
      const outcome = holder === undefined ? placeNew(dir, lockPath, token, text) : takeOverStale(lockPath, holder, me, text, probe);
      if (outcome === true) {
        syncDir(dir);
        return new DataDirLock(dir, me, holder);
      }
      if (typeof outcome === 'string') waitedFor = outcome;
      pause(1 + attempt); // it changed hands, or another starter is taking it over: look again
    }
    throw new Error(`could not take the lock on data directory ${dir}: ${waitedFor}`);
  }

  get path(): string {
    return join(this.dir, LOCK_NAME);
  }

  /** Whether the lock in place is still this one (not removed by hand, nor taken over). */
  held(): boolean {
    if (this.released) return false;
    const now = readOwner(this.path);
    return typeof now === 'object' && now.token === this.owner.token;
  }

  /** Lets go of the lock if it is still this one. Synchronous, so that it can run in an 'exit' handler. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const aside = join(this.dir, `${LOCK_NAME}.${this.owner.token}.released`);
    const now = readOwner(this.path);
    if (typeof now !== 'object' || now.token !== this.owner.token) return;
    try {
      // renamed away first: removing in place could delete a lock another process had just put there
      renameSync(this.path, aside);
      rmSync(aside, { recursive: true, force: true });
    } catch {
      // the directory went away with it
    }
  }
}

/** alive: the holder runs on this host; elsewhere: it is on another host; stale: it is dead. */
function judge(holder: LockOwner, probe: ProcessProbe): 'alive' | 'elsewhere' | 'stale' {
  if (holder.host !== probe.host()) return 'elsewhere';
  return isDead(holder, probe) ? 'stale' : 'alive';
}

/** Whether the process with this pid, start time and boot (on this host) has ended. */
function isDead(p: Pick<LockOwner, 'pid' | 'startTime' | 'bootId'>, probe: ProcessProbe): boolean {
  const boot = probe.bootId();
  if (p.bootId && boot && p.bootId !== boot) return true;
  const started = probe.startTime(p.pid);
  if (started === undefined) return true;
  // the pid is in use: by that process, unless this one started at another time (the pid was reused)
  return p.startTime !== null && started !== null && started !== p.startTime;
}

/** A lock where there is none: made complete under another name, then renamed into place. False if another got there first. */
function placeNew(dir: string, lockPath: string, token: string, text: string): boolean {
  const fresh = join(dir, `${LOCK_NAME}.${token}.new`);
  try {
    mkdirSync(fresh);
    mkdirSync(join(fresh, FREE));
    writeDurably(join(fresh, OWNER_FILE), text);
    renameSync(fresh, lockPath);
    return true;
  } catch (err) {
    if (isCode(err, 'ENOTEMPTY', 'EEXIST')) return false;
    throw new Error(`cannot make the lock ${lockPath}: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(fresh, { recursive: true, force: true }); // gone already when renamed into place
  }
}

/**
 * Takes over the stale lock `judged` (see the top of the file): true if this starter now holds it; false, or
 * what it waits for, if the lock changed hands or another starter is taking it over (then look again).
 */
function takeOverStale(lockPath: string, judged: LockOwner, me: LockOwner, text: string, probe: ProcessProbe): boolean | string {
  if (judged.format < FORMAT) return takeOverLegacy(lockPath, judged, me, text);
  const baton = findBaton(lockPath);
  if (baton === undefined) return false; // the lock went away, or the baton was being renamed while listed
  if (baton !== FREE) {
    const claimant = parseClaim(baton);
    if (claimant === undefined) return `its take-over baton ${join(lockPath, baton)} cannot be read; if no slowq process uses the directory, remove ${lockPath}`;
    if (!isDead(claimant, probe)) return `pid ${claimant.pid} was taking it over and did not finish`;
  }
  const mine = join(lockPath, claimName(me));
  try {
    renameSync(join(lockPath, baton), mine);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false; // another starter took the baton first
    throw err;
  }
  // Holding the baton: nobody else writes owner.json now. Is it still the owner judged dead?
  const now = readOwner(lockPath);
  if (typeof now !== 'object' || now.token !== judged.token) {
    giveBaton(mine, lockPath);
    return false;
  }
  rewriteFileInPlace(join(lockPath, OWNER_FILE), text);
  giveBaton(mine, lockPath);
  return true;
}

/**
 * Takes over a stale lock made before batons: exactly one starter makes legacy.TOKEN, puts a baton (claimed by
 * itself) in the lock, rewrites the owner and frees the baton.
 */
function takeOverLegacy(lockPath: string, judged: LockOwner, me: LockOwner, text: string): boolean | string {
  const legacy = join(lockPath, `legacy.${judged.token}`);
  try {
    mkdirSync(legacy);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false; // the lock went away
    if (isCode(err, 'EEXIST')) return `another starter was taking it over and did not finish; if no slowq process uses the directory, remove ${lockPath}`;
    throw err;
  }
  try {
    const now = readOwner(lockPath);
    if (typeof now !== 'object' || now.token !== judged.token) return false;
    const mine = join(lockPath, claimName(me));
    mkdirSync(mine);
    rewriteFileInPlace(join(lockPath, OWNER_FILE), text);
    giveBaton(mine, lockPath);
    return true;
  } finally {
    rmSync(legacy, { recursive: true, force: true });
  }
}

/** The baton's name in the lock, or undefined if there is no lock (or the baton was moving while listed). */
function findBaton(lockPath: string): string | undefined {
  if (existsSync(join(lockPath, FREE))) return FREE;
  let names: string[];
  try {
    names = readdirSync(lockPath);
  } catch {
    return undefined;
  }
  return names.find((n) => n.startsWith(CLAIM)) ?? (names.includes(FREE) ? FREE : undefined);
}

function claimName(me: LockOwner): string {
  return `${CLAIM}${me.pid}.${me.startTime ?? '-'}.${me.bootId ?? '-'}.${me.token}`;
}

function parseClaim(name: string): Pick<LockOwner, 'pid' | 'startTime' | 'bootId'> | undefined {
  const m = /^claim\.(\d+)\.([^.]+)\.([^.]+)\.[^.]+$/.exec(name);
  if (!m) return undefined;
  return { pid: Number(m[1]), startTime: m[2] === '-' ? null : m[2]!, bootId: m[3] === '-' ? null : m[3]! };
}

/** Frees the baton this starter holds; the lock may have been released meanwhile, baton and all. */
function giveBaton(mine: string, lockPath: string): void {
  try {
    renameSync(mine, join(lockPath, FREE));
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
}

function readOwner(lockPath: string): LockOwner | 'unreadable' | undefined {
  let text: string;
  try {
    text = readFileSync(join(lockPath, OWNER_FILE), 'utf8');
  } catch (err) {
    return isCode(err, 'ENOENT', 'ENOTDIR') ? undefined : 'unreadable';
  }
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string' && typeof o.service === 'string') {
      return {
        service: o.service, pid: o.pid, host: o.host, since: String(o.since), startTime: o.startTime ?? null, bootId: o.bootId ?? null, token: o.token,
        format: typeof o.format === 'number' ? o.format : 1,
      };
    }
  } catch {
    // below
  }
  return 'unreadable';
}

function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some file systems cannot sync a directory; the lock still works, it is only less durable
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A short synchronous wait (acquire runs once at start, before anything else). */
function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** The process facts from /proc (Linux); elsewhere pid liveness only. */
export const linuxProbe: ProcessProbe = {
  host: () => hostname(),
  bootId: () => {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      return null;
    }
  },
  startTime: (pid) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ESRCH') && procMounted()) return undefined;
      return signalable(pid) ? null : undefined; // no /proc here: whether the pid is in use is all we can know
    }
    // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses, so fields are counted after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined; // exited, not yet reaped
    return fields[19] ?? null; // field 22 of the whole line
  },
};

function procMounted(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isCode(err, 'EPERM');
  }
}
