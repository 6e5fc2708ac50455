import type { Command } from 'commander';
import { Agent, type AgentTuning } from '../client/agent.js';
import type { AgentConfig, AgentCurveFiles } from '../client/agent-config.js';
import { holdReloadSignal, onReloadSignal } from '../supervisor/reload-signal.js';
import { addCurveOptions, masterEndpoints, type CurveFlags } from './security.js';
import { addLogOptions, holdStopSignals, runUntilSignal, serviceLogger, type LogFlags } from './common.js';
import { loadAgentConfig } from './config-file.js';
import { lockDataDir } from './lock-data-dir.js';
import { keepYoungGenerationSmall } from './small-heap.js';

// `slowq agent --config agent.yaml`: every input of a database host (files and globs of any format, probes) in one
// process with one data directory and one connection to the master (src/client/agent.ts). The file is checked whole
// before anything starts; SIGHUP reads it again and adds, removes or restarts the inputs that changed.

/** Settings a reload cannot change in a running agent (they take effect at the next start). */
const FIXED: (keyof AgentConfig)[] = ['master', 'data', 'curve', 'logserver', 'logLevel', 'batchSize', 'lingerMs', 'window', 'ackTimeoutMs', 'pollMs'];

export function register(program: Command): void {
  addCurveOptions(addLogOptions(
    program
      .command('agent')
      .description('watch every log and database of this host (inputs of a YAML file) and send their records to the master; SIGHUP re-reads the file')
      .requiredOption('--config <file>', 'the agent\'s configuration (YAML, or JSON when the name ends in .json): master, data, inputs (see the README)'),
  ), { server: false, connectsTo: ['master', 'logserver'] }).action(async (flags: LogFlags & CurveFlags & { config: string }) => {
    holdStopSignals();
    keepYoungGenerationSmall();
    holdReloadSignal();
    const cfg = loadAgentConfig(flags.config);
    const curveFlags = withCurveFiles(flags, cfg.curve);
    const masters = masterEndpoints({ ...curveFlags, master: cfg.master }, cfg.master[0]!);
    lockDataDir(cfg.data, 'agent');
    const logFlags: LogFlags & CurveFlags = { ...curveFlags };
    const logserver = flags.logserver ?? cfg.logserver;
    const logLevel = flags.logLevel ?? cfg.logLevel;
    if (logserver !== undefined) logFlags.logserver = logserver;
    if (logLevel !== undefined) logFlags.logLevel = logLevel;
    const log = serviceLogger('agent', logFlags);
    const agent = new Agent({
      masters,
      dataDir: cfg.data,
      inputs: cfg.inputs,
      log: log.logger,
      extraCounters: () => log.counters(),
      ...tuning(cfg),
    });
    await agent.start();
    onReloadSignal(async () => {
      await agent.reload(() => {
        const next = loadAgentConfig(flags.config);
        for (const key of FIXED) {
          if (JSON.stringify(next[key]) !== JSON.stringify(cfg[key])) {
            log.logger.warn({ key }, `${key} changed in ${flags.config}: it takes effect when the agent restarts; the inputs are reloaded now`);
          }
        }
        return next.inputs;
      });
    });
    runUntilSignal(async () => {
      await agent.stop();
      await log.close();
    });
  });
}

function tuning(cfg: AgentConfig): AgentTuning {
  return { batchSize: cfg.batchSize, lingerMs: cfg.lingerMs, window: cfg.window, ackTimeoutMs: cfg.ackTimeoutMs, pollMs: cfg.pollMs };
}

/** The file's `curve:` keys under the command line's flags (a flag given wins). */
function withCurveFiles(flags: CurveFlags, files: AgentCurveFiles): CurveFlags {
  const out: CurveFlags = {};
  const pick = (flag: string | undefined, file: string | undefined): string | undefined => flag ?? file;
  const set = (k: keyof Omit<CurveFlags, 'allow' | 'insecure' | 'masterKey'>, v: string | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('curveSecret', pick(flags.curveSecret, files.secret));
  set('curvePublic', pick(flags.curvePublic, files.public));
  set('serverKey', pick(flags.serverKey, files.serverKey));
  const masterKey = flags.masterKey ?? files.masterKey;
  if (masterKey !== undefined) out.masterKey = masterKey;
  set('logserverKey', pick(flags.logserverKey, files.logserverKey));
  return out;
}
