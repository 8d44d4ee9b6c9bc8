import { readFileSync } from 'node:fs';
import { configDigest } from '../../engine/digest.js';
import type { Plan } from '../../engine/plan.js';
import { EXIT } from '../exit-codes.js';
import { engineSettings, UsageError, type EngineCliOptions } from './engine-options.js';
import { runWalk, withSession } from './run-engine.js';

function readPlan(file: string): Plan {
  let plan: Plan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as Plan;
  } catch (e) {
    throw new UsageError(`cannot read plan ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (plan?.format !== 'phoenix-plan/1' || !Array.isArray(plan.nodes))
    throw new UsageError(`${file} is not a plan made by \`phoenix plan --out\``);
  return plan;
}

/** Applies exactly a saved plan, refusing if the configuration or the observed state changed since. */
export async function applyCommand(file: string, o: EngineCliOptions): Promise<number> {
  const settings = engineSettings(o);
  return withSession(
    settings,
    { command: `phoenix apply ${file}`, args: [file], mutating: true },
    async (s, emit) => {
      const plan = readPlan(file);
      if (plan.configDigest !== configDigest(s.analysis)) {
        process.stderr.write(
          `phoenix apply: refusing to apply ${file}: the configuration changed since the plan was made. Make a new plan.\n`,
        );
        s.close();
        return EXIT.failed;
      }
      const order = plan.nodes.map((n) => n.id);
      const missing = order.filter((id) => !s.graph.nodes.has(id));
      if (missing.length)
        throw new UsageError(
          `the plan names resources the configuration no longer has: ${missing.join(', ')}`,
        );
      return runWalk(s, order, settings, emit, plan);
    },
  );
}
