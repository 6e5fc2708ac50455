import { setFlagsFromString } from 'node:v8';

// The agent runs on the database host, where slowq must stay small. Under a steady allocation rate V8 grows the
// young generation's semi-spaces from 1 MiB towards 16 MiB (×2 at a time), which alone holds ~30–45 MB of RSS in a
// client reading at full speed. The maximum is fixed when the isolate starts (a `node` flag the `slowq` command
// cannot pass itself), but the growth factor is read at each growth: 1 keeps the young generation at its start
// size. The cost is more scavenges, each cheap because the client's young objects die young (`slowq bench e2e`
// reports the client's CPU and peak RSS). SLOWQ_AGENT_HEAP=default leaves V8's setting alone.
export function keepYoungGenerationSmall(env: NodeJS.ProcessEnv = process.env): void {
  if (env.SLOWQ_AGENT_HEAP === 'default') return;
  setFlagsFromString('--semi-space-growth-factor=1');
}
