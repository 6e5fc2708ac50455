import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from './config-file.js';
import { startHttpServer, type HttpServer } from '../monitor/http/server.js';
import { Monitor } from '../monitor/monitor.js';
import { FileOutput } from '../monitor/outputs/file.js';
import type { AlertOutput } from '../monitor/outputs/output.js';
import { StdoutOutput } from '../monitor/outputs/stdout.js';
import { addLogOptions, DEFAULT_BASE_PORT, intOption, holdStopSignals, runUntilSignal, serviceLogger, tcp, type LogFlags } from './common.js';
import { lockDataDir } from './lock-data-dir.js';
import { holdReloadSignal, onReloadSignal } from '../supervisor/reload-signal.js';
import { addCurveOptions, checkBind, serverCurve } from './security.js';

interface MonitorFlags extends LogFlags {
  data: string;
  port: string;
  host: string;
  alerts?: string;
  quiet?: boolean;
  config?: string;
  httpPort?: string;
  httpHost: string;
  httpToken?: string;
  externalUrl?: string;
  stuckAfterMs: string;
  dedupRetentionHours: string;
  dedupMaxIds: string;
}

export function register(program: Command): void {
  addLogOptions(addCurveOptions(
    program
      .command('monitor')
      .description('accepts alerts from consumers, drops duplicates, routes, groups, silences and notifies receivers')
      .requiredOption('--data <dir>', 'state directory')
      .option('--port <port>', 'port consumers connect to', String(DEFAULT_BASE_PORT + 2))
      .option('--host <addr>', 'address to bind', '127.0.0.1')
      .option('--alerts <file>', 'alerts as JSON lines (default DIR/alerts.jsonl)')
      .option('--config <file>', 'configuration file (YAML or JSON): route, receivers, inhibit_rules, rate_limits; re-read on SIGHUP or POST /-/reload')
      .option('--http-port <port>', 'serve the dashboard, /metrics and /healthz on this port (default: no HTTP)')
      .option('--http-host <addr>', 'address for HTTP (a non-loopback one needs --http-token)', '127.0.0.1')
      .option('--http-token <token>', 'token HTTP requests must carry (default $SLOWQ_HTTP_TOKEN)')
      .option('--external-url <url>', 'the dashboard URL as receivers should link to it (default http://HTTP-HOST:HTTP-PORT/)')
      .option('--quiet', 'do not print alerts on stdout')
      .option('--dedup-retention-hours <h>', 'how long accepted alert ids are remembered to drop resent alerts', '24')
      .option('--dedup-max-ids <n>', 'at most this many alert ids are remembered, the newest (~170 bytes of memory each)', '1000000')
      .option('--stuck-after-ms <ms>', 'a source whose oldest batch has waited this long for its ack makes /healthz say it cannot make progress', '30000'),
    { server: true, connectsTo: ['logserver'] },
  )).action(async (flags: MonitorFlags) => {
    holdStopSignals();
    holdReloadSignal();
    const curve = serverCurve(flags);
    const bind = tcp(flags.host, intOption(flags.port, '--port'));
    checkBind('monitor', bind, flags, curve !== undefined);
    const config = loadConfig(flags.config).monitor; // before anything starts: a bad config names the key and exits
    const dedup = { retentionMs: positive(flags.dedupRetentionHours, '--dedup-retention-hours') * 3600_000, maxIds: positive(flags.dedupMaxIds, '--dedup-max-ids') };
    const httpPort = flags.httpPort !== undefined ? intOption(flags.httpPort, '--http-port') : undefined;
    const token = flags.httpToken ?? process.env.SLOWQ_HTTP_TOKEN;
    const externalURL = flags.externalUrl ?? (httpPort !== undefined ? `http://${flags.httpHost.includes(':') ? `[${flags.httpHost}]` : flags.httpHost}:${httpPort}/` : undefined);
    lockDataDir(flags.data, 'monitor');
    const log = serviceLogger('monitor', flags);
    const outputs: AlertOutput[] = [new FileOutput(flags.alerts ?? join(flags.data, 'alerts.jsonl'))];
    if (!flags.quiet) outputs.push(new StdoutOutput());
    const monitor = new Monitor({
      bind,
      ...(curve && { curve }),
      dataDir: join(flags.data, 'state'),
      silencesPath: join(flags.data, 'silences.json'),
      outputs,
      config,
      log: log.logger,
      stuckAfterMs: intOption(flags.stuckAfterMs, '--stuck-after-ms'),
      dedup,
      ...(externalURL ? { externalURL } : {}),
    });
    await monitor.start();
    // SIGHUP or POST /-/reload: the file again; a bad one is refused and the running configuration stays.
    const reload = () => monitor.reload(() => loadConfig(flags.config).monitor);
    onReloadSignal(async () => {
      await reload();
    });
    let stopping = false;
    let http: HttpServer | undefined;
    if (httpPort !== undefined) {
      try {
        http = await startHttpServer(monitor.view, { host: flags.httpHost, port: httpPort, ...(token ? { token } : {}), reload, ready: () => !stopping });
        log.logger.info({ url: http.url }, 'dashboard and /metrics');
      } catch (err) {
        // Alerts keep flowing without the dashboard; say why it is missing.
        log.logger.error({ err: (err as Error).message, port: httpPort }, 'HTTP server did not start');
        process.stderr.write(`slowq monitor: HTTP on ${flags.httpHost}:${httpPort} did not start: ${(err as Error).message}\n`);
      }
    }
    runUntilSignal(async () => {
      stopping = true;
      await http?.close();
      await monitor.stop();
      await log.close();
    });
  });
}

/** A whole number of at least 1 (dedup with nothing remembered would let every resent alert through). */
function positive(value: string, name: string): number {
  const n = intOption(value, name);
  if (n < 1) throw new Error(`${name} must be at least 1, got "${value}"`);
  return n;
}
