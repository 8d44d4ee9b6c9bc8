import { writeFileSync } from 'node:fs';
import { summarize } from '../../engine/plan.js';
import { EXIT } from '../exit-codes.js';
import { formatPlan } from '../plan-view.js';
import { styleFor } from '../style.js';
import { engineSettings, type EngineCliOptions } from './engine-options.js';
import { makePlan, selectOrder, withSession } from './run-engine.js';

export interface PlanCliOptions extends EngineCliOptions {
  out?: string;
}

/** Observes and decides, changing nothing; prints every action with its reason, or saves the plan. */
export async function planCommand(selection: string[], o: PlanCliOptions): Promise<number> {
  const settings = engineSettings(o);
  return withSession(
    settings,
    { command: `phoenix plan ${selection.join(' ') || 'all'}`, args: selection, mutating: false },
    async (s) => {
      const plan = await makePlan(s, selectOrder(s.graph, selection), settings);
      if (o.out) writeFileSync(o.out, JSON.stringify(plan, null, 2) + '\n', { mode: 0o600 });
      if (settings.json) process.stdout.write(JSON.stringify({ ...plan, summary: summarize(plan) }) + '\n');
      else {
        process.stdout.write(formatPlan(plan, styleFor(process.stdout), settings.verbose));
        if (o.out)
          process.stdout.write(
            `Saved to ${o.out}; apply exactly this plan with \`phoenix apply ${o.out}\`.\n`,
          );
      }
      return summarize(plan).unknown ? EXIT.failed : EXIT.ok;
    },
  );
}
