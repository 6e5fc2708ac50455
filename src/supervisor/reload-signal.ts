// SIGHUP means "re-read your configuration file" (Alertmanager's and Prometheus' convention). A command that
// can reload calls onReloadSignal(fn); reloads run one at a time, in order. A SIGHUP that comes before the
// command has said how to reload (still starting) is held and acted on once it has; without holdReloadSignal()
// or onReloadSignal() SIGHUP keeps its default action (a foreground command ends on a terminal hangup).
//
// A service under a supervisor (`slowq up`) holds SIGHUP from its first line (follow-parent.ts): `up` passes
// SIGHUP on to its services, and one that does not reload must not die of it.

let reloadFn: (() => Promise<void> | void) | undefined;
let held = false;
let listening = false;
let chain: Promise<void> = Promise.resolve();

function onHangup(): void {
  if (!reloadFn) {
    held = true;
    return;
  }
  const fn = reloadFn;
  chain = chain.then(fn).catch((err: unknown) => {
    process.stderr.write(`slowq: reload failed: ${(err as Error).message}\n`);
  });
}

/** From now on SIGHUP does not end the process: it is held until onReloadSignal() says what to do. */
export function holdReloadSignal(): void {
  if (listening) return;
  listening = true;
  process.on('SIGHUP', onHangup);
}

/** Runs `reload` on every SIGHUP (and now, if one was held while starting). */
export function onReloadSignal(reload: () => Promise<void> | void): void {
  holdReloadSignal();
  reloadFn = reload;
  if (held) {
    held = false;
    onHangup();
  }
}
