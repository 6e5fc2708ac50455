import { spawnSync } from 'node:child_process';

// The kernel writes a file's dirty pages back about 30 s after they were written (vm.dirty_expire_centisecs), and
// while it writes tens of MiB back, every fsync on that disk waits behind it: on the bench machine one fdatasync
// took 117 ms 34 s after 64 MiB had been written without a sync, against ~0.4 ms otherwise. A bench that wrote its
// input a moment before would time that writeback instead of the pipeline (every process fsyncs before it acks):
// it writes back what is dirty first, with sync(1), before a timed run.

/** Writes every dirty page back (best effort: a system without sync(1) is left as it is). */
export function flushDirtyPages(): void {
  spawnSync('sync', { stdio: 'ignore', timeout: 120_000 });
}
