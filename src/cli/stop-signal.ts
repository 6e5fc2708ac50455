// Stopping on SIGINT/SIGTERM. A service command calls holdStopSignals() first thing, before it starts anything,
// and runUntilSignal(stop) once it has started: a signal that comes in between (a supervisor stopping everything
// while this service is still starting) is held and acted on as soon as there is something to stop, instead of
// killing the process by the signal's default action half-way through its start. A second signal while still
// starting exits at once.

import { supervised } from '../supervisor/follow-parent.js';

// A service under `slowq up` stops on its supervisor's SIGTERM only. Ctrl-C in a terminal sends SIGINT to the
// whole process group: acted on by every service at once, they would all exit while `up` restarts them, instead
// of `up` stopping them one by one in order. So a supervised service leaves SIGINT to its supervisor.

let stopFn: (() => Promise<void>) | undefined;
let heldSignal: NodeJS.Signals | undefined;
let stopping = false;
let listening = false;

function onStopSignal(sig: NodeJS.Signals): void {
  if (stopping) return;
  if (!stopFn) {
    if (heldSignal) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    heldSignal = sig;
    return;
  }
  stopping = true;
  stopFn().then(
    () => {
      process.off('SIGINT', onStopSignal);
      process.off('SIGTERM', onStopSignal);
    },
    (err: unknown) => {
      process.stderr.write(`slowq: error while stopping after ${sig}: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}

function ignoreInterrupt(): void {}

/** From now on SIGINT/SIGTERM are held until runUntilSignal() says how to stop. */
export function holdStopSignals(): void {
  if (listening) return;
  listening = true;
  process.on('SIGINT', supervised ? ignoreInterrupt : onStopSignal);
  process.on('SIGTERM', onStopSignal);
}

/** Runs until SIGINT/SIGTERM (or one already held), then calls stop() once and lets the event loop drain (no process.exit with sockets open). */
export function runUntilSignal(stop: () => Promise<void>): void {
  holdStopSignals();
  stopFn = stop;
  if (heldSignal) onStopSignal(heldSignal);
}
