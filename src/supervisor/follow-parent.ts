import { holdReloadSignal } from './reload-signal.js';
import { SUPERVISED_ENV } from './supervisor.js';

// Imported first by the CLI entry. A service started by the Supervisor has a stdin pipe from it; when the
// pipe closes the supervisor is gone (even by SIGKILL, which it cannot forward), so the service stops itself
// the orderly way, with the SIGTERM its command already handles. Outside a supervisor this does nothing.

/** Whether this process is a service a Supervisor started (`slowq up`): it stops when the supervisor says so. */
export const supervised = process.env[SUPERVISED_ENV] === '1';

if (supervised) {
  delete process.env[SUPERVISED_ENV]; // not for processes this one starts
  holdReloadSignal(); // the supervisor's SIGHUP asks for a reload; a service that has none must not die of it
  let done = false;
  const parentGone = (): void => {
    if (done) return;
    done = true;
    process.kill(process.pid, 'SIGTERM');
  };
  const stdin = process.stdin;
  stdin.on('end', parentGone);
  stdin.on('close', parentGone);
  stdin.on('error', parentGone);
  stdin.on('data', () => {}); // nothing is sent; reading is how the end is seen
  // the pipe must not keep the process alive once its service has stopped
  (stdin as unknown as { unref?: () => void }).unref?.();
}
