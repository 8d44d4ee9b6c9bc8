import { summarize } from '../../engine/plan.js';
import { EXIT } from '../exit-codes.js';
import { formatPlan } from '../plan-view.js';
import { styleFor } from '../style.js';
import { engineSettings, type EngineCliOptions } from './engine-options.js';
import { makePlan, runWalk, selectOrder, withSession } from './run-engine.js';

/** Makes the selected resources (and everything they need) match the configuration, verified. */
export async function syncCommand(selection: string[], o: EngineCliOptions): Promise<number> {
  const settings = engineSettings(o);
  const what = selection.join(' ') || 'all';
  return withSession(
    settings,
    { command: `phoenix sync ${what}`, args: selection, mutating: true },
    async (s, emit) => {
      const order = selectOrder(s.graph, selection);
      if (settings.dryRun) {
        const plan = await makePlan(s, order, settings);
        if (settings.json) process.stdout.write(JSON.stringify({ ...plan, summary: summarize(plan) }) + '\n');
        else
          process.stdout.write(
            `Dry run: nothing was changed. This is what \`phoenix sync ${what}\` would do:\n` +
              formatPlan(plan, styleFor(process.stdout), settings.verbose),
          );
        return summarize(plan).unknown ? EXIT.failed : EXIT.ok;
      }
      return runWalk(s, order, settings, emit);
    },
  );
}
