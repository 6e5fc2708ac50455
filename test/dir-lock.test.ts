import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DataDirInUseError, DataDirLock, LOCK_NAME, linuxProbe, type LockOwner } from '../src/durable/dir-lock.js';
import { processTestDir } from './support/cluster.js';

// The data-directory lock (src/durable/dir-lock.ts): one process per directory, the holder named to a second
// one; a lock left by a dead process (SIGKILL), by a pid now used by another process, or from before a reboot
// is taken over; one from another host is refused; of starters racing for a stale lock exactly one wins.

const MODULE = fileURLToPath(new URL('../src/durable/dir-lock.js', import.meta.url));

/**
 * Puts a lock with this owner in place by hand, as a process that held it would have left it: with its baton
 * ("free"), or as one made before batons (format 1, none).
 */
function plantLock(dir: string, owner: Partial<LockOwner>): LockOwner {
  const full: LockOwner = {
    service: 'consumer-c0', pid: process.pid, host: linuxProbe.host(), since: '2020-01-01T00:00:00.000Z',
    startTime: linuxProbe.startTime(process.pid) ?? null, bootId: linuxProbe.bootId(), token: 'planted', format: 2, ...owner,
  };
  mkdirSync(join(dir, LOCK_NAME), { recursive: true });
  if (full.format >= 2) mkdirSync(join(dir, LOCK_NAME, 'free'), { recursive: true });
  writeFileSync(join(dir, LOCK_NAME, 'owner.json'), JSON.stringify(full));
  return full;
}

/** A pid no process has now: one that just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

function refusal(fn: () => unknown): DataDirInUseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DataDirInUseError) return err;
    throw err;
  }
  assert.fail('expected DataDirInUseError');
}

describe('data directory lock', () => {
  const root = processTestDir('slowq-dir-lock-');
  let n = 0;
  const fresh = () => join(root, `d${++n}`);

  it('is taken, held, refused to a second taker with the holder named, released, and taken again', () => {
    const dir = fresh();
    const lock = DataDirLock.acquire(dir, 'consumer-c0');
    assert.ok(lock.held());
    assert.equal(lock.tookOver, undefined);
    assert.equal(lock.owner.pid, process.pid);
    const owner = JSON.parse(readFileSync(join(dir, LOCK_NAME, 'owner.json'), 'utf8')) as LockOwner;
    assert.equal(owner.service, 'consumer-c0');
    assert.equal(owner.token, lock.owner.token);
    const err = refusal(() => DataDirLock.acquire(dir, 'consumer-c0'));
    assert.equal(err.holder.pid, process.pid);
    assert.match(err.message, new RegExp(`data directory ${dir} is in use by consumer-c0 \\(pid ${process.pid} on host ${linuxProbe.host()}, since [^)]+\\); stop that process first`));
    lock.release();
    assert.ok(!lock.held());
    assert.ok(!existsSync(join(dir, LOCK_NAME)));
    assert.deepEqual(readdirSync(dir), [], 'nothing left behind');
    const again = DataDirLock.acquire(dir, 'consumer-c0');
    assert.ok(again.held());
    again.release();
  });

  it('takes over the lock of a dead process (SIGKILL leaves it behind)', async () => {
    const dir = fresh();
    const dead = plantLock(dir, { pid: await deadPid(), startTime: '12345' });
    const lock = DataDirLock.acquire(dir, 'consumer-c0');
    assert.equal(lock.tookOver?.pid, dead.pid);
    assert.equal(lock.tookOver?.token, 'planted');
    assert.ok(lock.held());
    lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('takes over a lock made before batons (format 1) and leaves it with one', async () => {
    const dir = fresh();
    plantLock(dir, { pid: await deadPid(), format: 1 });
    const lock = DataDirLock.acquire(dir, 'consumer-c0');
    assert.equal(lock.tookOver?.token, 'planted');
    assert.deepEqual(readdirSync(join(dir, LOCK_NAME)).sort(), ['free', 'owner.json']);
    assert.equal((JSON.parse(readFileSync(join(dir, LOCK_NAME, 'owner.json'), 'utf8')) as LockOwner).format, 2);
    lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('takes the baton from a starter that died taking over, and waits for, then names, one that is still at it', async () => {
    const dir = fresh();
    const dead = await deadPid();
    plantLock(dir, { pid: dead });
    const boot = linuxProbe.bootId() ?? '-';
    renameSync(join(dir, LOCK_NAME, 'free'), join(dir, LOCK_NAME, `claim.${dead}.-.${boot}.t1`));
    const lock = DataDirLock.acquire(dir, 'consumer-c0');
    assert.equal(lock.tookOver?.pid, dead);
    assert.deepEqual(readdirSync(join(dir, LOCK_NAME)).sort(), ['free', 'owner.json'], 'the dead claim became the free baton');
    lock.release();
    // a live claimant (this process, as /proc knows it) holds the baton of a dead holder's lock: the starter waits, then says who
    plantLock(dir, { pid: dead });
    const me = `claim.${process.pid}.${linuxProbe.startTime(process.pid) ?? '-'}.${boot}.t2`;
    renameSync(join(dir, LOCK_NAME, 'free'), join(dir, LOCK_NAME, me));
    assert.throws(() => DataDirLock.acquire(dir, 'consumer-c0'), new RegExp(`could not take the lock on data directory .*: pid ${process.pid} was taking it over and did not finish`));
    renameSync(join(dir, LOCK_NAME, me), join(dir, LOCK_NAME, 'free'));
    DataDirLock.acquire(dir, 'consumer-c0').release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('takes over a lock whose pid now belongs to another process (start time differs), or from before a reboot', () => {
    const dir = fresh();
    // the pid is alive (ours), but the process that took the lock started at another time
    plantLock(dir, { pid: process.pid, startTime: 'not-this-process' });
    const lock = DataDirLock.acquire(dir, 'monitor');
    assert.equal(lock.tookOver?.startTime, 'not-this-process');
    lock.release();
    const boot = linuxProbe.bootId();
    if (boot) {
      plantLock(dir, { pid: process.pid, bootId: 'another-boot' });
      const after = DataDirLock.acquire(dir, 'monitor');
      assert.equal(after.tookOver?.bootId, 'another-boot');
      after.release();
    }
  });

  it('refuses a live holder with the same start time, and a holder on another host whatever its pid', () => {
    const dir = fresh();
    plantLock(dir, { pid: process.pid, service: 'up' });
    assert.match(refusal(() => DataDirLock.acquire(dir, 'up')).message, /in use by up \(pid \d+ on host/);
    rmSync(join(dir, LOCK_NAME), { recursive: true });
    plantLock(dir, { host: 'db-9.elsewhere', pid: 1 });
    const err = refusal(() => DataDirLock.acquire(dir, 'up'));
    assert.match(err.message, /in use by consumer-c0 \(pid 1 on host db-9\.elsewhere, since 2020-01-01T00:00:00\.000Z\); db-9\.elsewhere is another host sharing this directory/);
    assert.ok(err.message.includes(join(dir, LOCK_NAME)), 'says which lock to remove');
  });

  it('refuses, naming it, a lock whose owner cannot be read', () => {
    const dir = fresh();
    mkdirSync(join(dir, LOCK_NAME), { recursive: true });
    writeFileSync(join(dir, LOCK_NAME, 'owner.json'), 'not json');
    assert.throws(() => DataDirLock.acquire(dir, 'logserver'), /has a lock .*slowq\.lock whose owner cannot be read/);
  });

  it('knows when it is no longer its own (removed by hand, or replaced), and then releases nothing', () => {
    const dir = fresh();
    const lock = DataDirLock.acquire(dir, 'client-db');
    rmSync(join(dir, LOCK_NAME), { recursive: true });
    assert.ok(!lock.held());
    const other = plantLock(dir, { token: 'someone-else' });
    lock.release();
    assert.equal((JSON.parse(readFileSync(join(dir, LOCK_NAME, 'owner.json'), 'utf8')) as LockOwner).token, other.token, 'the other lock is left alone');
  });

  it('of processes racing for a free or a stale lock exactly one wins, and the others name it', { timeout: 120_000 }, async () => {
    const racers = 6;
    for (let round = 0; round < 6; round++) {
      const dir = fresh();
      mkdirSync(dir);
      // odd rounds race for a stale lock: with a baton, or (round 3) one made before batons
      if (round % 2 === 1) plantLock(dir, { pid: await deadPid(), format: round === 3 ? 1 : 2 });
      const startAt = Date.now() + 2000;
      const done = join(root, `race-${n}.done`);
      // each racer waits for the same moment and tries; the winner holds the lock until every racer has tried
      const script = `
        import { existsSync } from 'node:fs';
        import { DataDirLock } from ${JSON.stringify(MODULE)};
        while (Date.now() < ${startAt}) {}
        try {
          const lock = DataDirLock.acquire(${JSON.stringify(dir)}, 'racer');
          process.stdout.write('won ' + process.pid + '\\n');
          const until = Date.now() + 60000;
          const wait = setInterval(() => {
            if (!existsSync(${JSON.stringify(done)}) && Date.now() < until) return;
            clearInterval(wait);
            lock.release();
          }, 20);
        } catch (err) {
          process.stdout.write((err.holder ? 'refused ' + err.holder.pid : 'error ' + err.message) + '\\n');
        }`;
      const answered: string[] = [];
      const outputs = await Promise.all(Array.from({ length: racers }, () => new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.endsWith('\n')) {
            answered.push(out);
            if (answered.length === racers) writeFileSync(done, '');
          }
        });
        child.once('exit', () => {
          if (!answered.includes(out)) writeFileSync(done, ''); // one that died without answering must not keep the winner waiting
          resolve(out.trim());
        });
      })));
      const winners = outputs.filter((o) => o.startsWith('won '));
      assert.equal(winners.length, 1, `round ${round}: ${outputs.join(' | ')}`);
      const winner = winners[0]!.slice('won '.length);
      for (const o of outputs) if (!o.startsWith('won ')) assert.equal(o, `refused ${winner}`, `round ${round}: ${outputs.join(' | ')}`);
      assert.deepEqual(readdirSync(dir), [], `round ${round}: the winner released it and nothing was left behind`);
    }
  });
});
