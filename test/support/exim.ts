import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/harness/ports.js';
import { hasExited, startProcess, stop, type Proc } from '../../bench/harness/processes.js';
import { waitFor } from '../../bench/harness/wait.js';

// A private Exim (Debian's exim4-daemon-light) for the e-mail receiver's tests: on a loopback port, with its own
// configuration, spool and maildir in a directory of its own (removed by stop()), STARTTLS with a throwaway self-signed certificate made here
// with openssl, and AUTH PLAIN/LOGIN for one user (advertised only after STARTTLS, as a submission server
// should). It relays nothing: every accepted message, whatever the recipient, lands in the maildir.
// RCPT is deferred (451) while the file `deferFlag` exists, for retry tests. Started as root, it runs as the
// Debian-exim user (which owns the spool and the maildir); `-C` makes it drop privileges that a private
// configuration does not need.

export const EXIM = '/usr/sbin/exim4';
const EXIM_USER = 'Debian-exim';

export interface EximServer {
  port: number;
  user: string;
  password: string;
  /** PEM of the server's certificate (its own CA) */
  certFile: string;
  /** while this file exists, every RCPT gets 451 */
  deferFlag: string;
  /** the delivered messages, oldest first, as raw RFC 5322 text */
  messages(): string[];
  stop(): Promise<void>;
}

export async function startExim(): Promise<EximServer> {
  if (!existsSync(EXIM)) throw new Error(`${EXIM} not found: run .ci/install-system.sh (as root) to install Debian's exim4-daemon-light`);
  // Its own directory, not under a test's: mkdtemp's 0700 on every level would keep the Exim user out.
  const dir = mkdtempSync(join(tmpdir(), 'slowq-exim-'));
  chmodSync(dir, 0o755);
  const spool = join(dir, 'spool');
  const maildir = join(dir, 'maildir');
  mkdirSync(spool, { recursive: true });
  mkdirSync(maildir, { recursive: true });
  const { uid, gid } = eximIds();
  chownSync(spool, uid, gid);
  chownSync(maildir, uid, gid);
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(keyFile, 0o644); // a throwaway key Exim reads after dropping privileges
  const port = await freePort();
  const user = 'slowq';
  const password = 'pw-' + Math.random().toString(36).slice(2, 12);
  const deferFlag = join(dir, 'defer');
  const conf = join(dir, 'exim.conf');
  writeFileSync(conf, [
    'primary_hostname = smtp.slowq-test.localhost',
    `spool_directory = ${spool}`,
    `log_file_path = ${spool}/%slog`,
    `pid_file_path = ${spool}/exim.pid`,
    `exim_user = ${EXIM_USER}`,
    `exim_group = ${EXIM_USER}`,
    'keep_environment =',
    `daemon_smtp_ports = ${port}`,
    'local_interfaces = 127.0.0.1',
    'host_lookup =',
    'rfc1413_hosts =',
    'tls_advertise_hosts = *',
    `tls_certificate = ${certFile}`,
    `tls_privatekey = ${keyFile}`,
    'auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}',
    'acl_smtp_rcpt = acl_rcpt',
    '',
    'begin acl',
    'acl_rcpt:',
    `  defer message = busy, try again later\n    condition = \${if exists{${deferFlag}}}`,
    '  accept authenticated = *',
    '  deny message = authentication required',
    '',
    'begin routers',
    'everything:',
    '  driver = accept',
    '  transport = to_maildir',
    '',
    'begin transports',
    'to_maildir:',
    '  driver = appendfile',
    `  directory = ${maildir}`,
    '  maildir_format',
    '  batch_max = 100', // one copy of a message for all its recipients
    '  envelope_to_add',
    '  return_path_add',
    `  user = ${EXIM_USER}`,
    `  group = ${EXIM_USER}`,
    '',
    'begin authenticators',
    'plain:',
    '  driver = plaintext',
    '  public_name = PLAIN',
    '  server_prompts = :',
    `  server_condition = \${if and {{eq{$auth2}{${user}}}{eq{$auth3}{${password}}}}}`,
    '  server_set_id = $auth2',
    'login:',
    '  driver = plaintext',
    '  public_name = LOGIN',
    '  server_prompts = Username:: : Password::',
    `  server_condition = \${if and {{eq{$auth1}{${user}}}{eq{$auth2}{${password}}}}}`,
    '  server_set_id = $auth1',
    '',
  ].join('\n'));
  // -bdf: the daemon in the foreground (stop() ends it); -oX: its port.
  const proc: Proc = startProcess('exim', EXIM, ['-C', conf, '-bdf', '-oX', String(port)]);
  const mainlog = join(spool, 'mainlog');
  try {
    await waitFor('exim listening', () => {
      if (hasExited(proc)) throw new Error(`exim exited: ${proc.output()}`);
      return existsSync(mainlog) && readFileSync(mainlog, 'utf8').includes('listening for SMTP');
    }, 20_000, 50);
  } catch (err) {
    await stop(proc, 2000);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const newDir = join(maildir, 'new');
  return {
    port,
    user,
    password,
    certFile,
    deferFlag,
    messages: () => (existsSync(newDir) ? readdirSync(newDir).sort(byDelivery).map((f) => readFileSync(join(newDir, f), 'utf8')) : []),
    stop: async () => {
      await stop(proc, 5000);
      // The daemon's children (a connection still being handled, a delivery) outlive it and would write into the
      // spool after it is removed: found by the configuration's path on their command line, which is this run's.
      for (let i = 0; i < 50; i++) {
        const left = pidsWith(conf);
        if (left.length === 0) break;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function eximIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${EXIM_USER}:`));
  if (!line) throw new Error(`no ${EXIM_USER} user: is exim4-daemon-light installed?`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Exim's maildir names start with the delivery time, `SECONDS.MMICROSECONDS`, unpadded: compared as numbers. */
function byDelivery(a: string, b: string): number {
  const t = (f: string) => /^(\d+)\.M(\d+)/.exec(f)?.slice(1).map(Number) ?? [0, 0];
  const [as, au] = t(a);
  const [bs, bu] = t(b);
  return as! - bs! || au! - bu! || a.localeCompare(b);
}

/** Processes whose command line has `arg`. */
function pidsWith(arg: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(arg)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
