import { resolve } from 'node:path';
import { DataDirLock } from '../durable/dir-lock.js';

/**
 * Takes the lock on a service's data directory for the life of the process (src/durable/dir-lock.ts): a second
 * process on the directory refuses to start, naming the holder. Call it before opening anything that would keep
 * the process alive, so that a refusal exits. Released at exit; should it be lost meanwhile (removed by hand, or
 * taken by another process), the service stops with an error rather than share the directory.
 */
export function lockDataDir(dir: string, service: string): DataDirLock {
  const lock = DataDirLock.acquire(resolve(dir), service);
  process.once('exit', () => lock.release());
  const held = lock.tookOver;
  if (held) {
    process.stderr.write(`slowq ${service}: took over the lock on ${lock.dir} left by ${held.service} (pid ${held.pid}, since ${held.since}), which is no longer running\n`);
  }
  const check = setInterval(() => {
    if (lock.held()) return;
    clearInterval(check);
    process.stderr.write(`slowq ${service}: the lock on ${lock.dir} is no longer this process's (removed, or taken by another process); stopping\n`);
    process.exitCode = 1;
    process.kill(process.pid, 'SIGTERM');
  }, 5000);
  check.unref();
  return lock;
}
