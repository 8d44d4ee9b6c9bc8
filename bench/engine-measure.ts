import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { analyse } from '../src/analyse.js';
import { CLI_DEFAULTS, openBenchEngine, type ChildMeasurement } from './engine.js';

/**
 * One engine measurement in a fresh process, for a clean peak RSS (bench/engine.ts runs it):
 *
 *   node dist/bench/engine-measure.js plan <config-dir> <state-dir> [--concurrency N] [--world FILE]
 *   node dist/bench/engine-measure.js sync <config-dir> <state-dir> [--concurrency N] [--per-node-limit N]
 *                                          [--no-journal] [--save-world FILE]
 *
 * Zero latency. `plan` times observeAll + decideAll + buildPlan over the whole graph against an empty world,
 * or against the world loaded from FILE (with the certificate store and journal of state-dir). `sync` runs a
 * full `sync all` and saves the world once at the end. Prints one JSON line (ChildMeasurement).
 */

const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

async function main(): Promise<void> {
  const [mode, configDir, stateDir, ...rest] = process.argv.slice(2);
  if ((mode !== 'plan' && mode !== 'sync') || !configDir || !stateDir) {
    process.stderr.write(
      'usage: node dist/bench/engine-measure.js plan|sync <config-dir> <state-dir> [--concurrency N] [--per-node-limit N]\n' +
        '         [--no-journal] [--world FILE] [--save-world FILE]\n',
    );
    process.exit(2);
  }
  const flag = (name: string) => {
    const i = rest.indexOf(name);
    return i < 0 ? undefined : rest[i + 1];
  };
  const concurrency = Number(flag('--concurrency') ?? CLI_DEFAULTS.concurrency);
  const perNodeLimit = Number(flag('--per-node-limit') ?? CLI_DEFAULTS.perNodeLimit);
  const worldPath = flag('--world');
  const saveWorld = flag('--save-world');

  const t0 = performance.now();
  const analysis = await analyse(configDir);
  const analyseMs = performance.now() - t0;
  const rssAfterAnalyseMb = rssMb();
  const engine = await openBenchEngine(configDir, {
    latencyMs: 0,
    analysis,
    stateDir,
    journal: !rest.includes('--no-journal'),
    ...(worldPath ? { worldPath } : {}),
  });
  try {
    const base = { analyseMs, rssAfterAnalyseMb, resources: engine.graph.nodes.size };
    let result: ChildMeasurement;
    if (mode === 'plan') {
      const plan = await engine.plan(concurrency);
      result = { mode, ...base, plan, mutations: engine.mutations(), maxRssMb: maxRssMb() };
    } else {
      const sync = await engine.sync({ concurrency, perNodeLimit });
      if (saveWorld) {
        mkdirSync(dirname(saveWorld), { recursive: true });
        writeFileSync(saveWorld, JSON.stringify(engine.mem.world.state));
      }
      result = { mode, ...base, sync, mutations: engine.mutations(), maxRssMb: maxRssMb() };
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    engine.close();
  }
}

/** maxRSS is in kilobytes. */
function maxRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

await main();
