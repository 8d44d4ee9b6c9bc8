import { executionOrder } from '../../graph/order.js';
import type { ResourceGraph } from '../../graph/types.js';
import {
  convergeGraph,
  createGraph,
  deleteGraph,
  letsGoGraph,
  powerGraph,
  resolveGuests,
  startGraph,
  VerbError,
} from '../../engine/verbs.js';
import type { Session } from '../../engine/session.js';
import type { Inventory } from '../../model/inventory.js';
import { decideGuest } from '../../resources/guest.js';
import { EXIT } from '../exit-codes.js';
import { formatPlan } from '../plan-view.js';
import { styleFor } from '../style.js';
import { engineSettings, type EngineCliOptions } from './engine-options.js';
import { runWalkOn, planOn, withSession } from './run-engine.js';

export type Verb = 'create' | 'converge' | 'start' | 'stop' | 'restart' | 'delete' | 'LetsGo';

function verbGraph(verb: Verb, inv: Inventory, args: readonly string[], force: boolean): ResourceGraph {
  switch (verb) {
    case 'create':
      return createGraph(inv, resolveGuests(inv, args));
    case 'converge':
      return convergeGraph(inv, resolveGuests(inv, args));
    case 'start':
      return startGraph(inv, resolveGuests(inv, args), args.length === 1 && args[0] === 'all');
    case 'stop':
      return powerGraph(
        resolveGuests(inv, args).filter((g) => !g.isTemplate),
        'stopped',
      );
    case 'restart':
      return powerGraph(
        resolveGuests(inv, args).filter((g) => !g.isTemplate),
        'restarted',
      );
    case 'delete':
      return deleteGraph(inv, resolveGuests(inv, args), force);
    case 'LetsGo':
      return letsGoGraph(inv);
  }
}

/** A guest verb: its plan on the same engine as sync, with the same journal, lock and output. */
export async function guestVerbCommand(
  verb: Verb,
  args: string[],
  o: EngineCliOptions & { force?: boolean },
): Promise<number> {
  const settings = engineSettings(o);
  return withSession(
    settings,
    { command: `phoenix ${verb} ${args.join(' ')}`.trim(), args, mutating: true },
    async (s, emit) => {
      let graph: ResourceGraph;
      try {
        graph = verbGraph(verb, s.inventory, args, Boolean(o.force));
      } catch (e) {
        if (!(e instanceof VerbError)) throw e;
        process.stderr.write(`phoenix ${verb}: ${e.message}\n`);
        return EXIT.invalid;
      }
      const order = executionOrder(graph);
      if (settings.dryRun) {
        const plan = await planOn(s, graph, order, settings);
        process.stdout.write(
          settings.json
            ? JSON.stringify(plan) + '\n'
            : formatPlan(plan, styleFor(process.stdout), settings.verbose),
        );
        return EXIT.ok;
      }
      return runWalkOn(s, graph, order, settings, emit);
    },
  );
}

interface StatusRow {
  id: number;
  kind: string;
  name: string;
  declared: boolean;
  exists: boolean;
  status: string;
  template: boolean;
  drift: string;
}

/** `status`: every declared guest (LXC and VM) and every undeclared one the hypervisor has. Read-only. */
export async function statusCommand(args: string[], o: EngineCliOptions): Promise<number> {
  const settings = engineSettings(o);
  return withSession(settings, { command: 'phoenix status', args, mutating: false }, async (s) => {
    const rows = await statusRows(s, args);
    if (settings.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return EXIT.ok;
    }
    const style = styleFor(process.stdout);
    const label = (r: StatusRow) =>
      r.name + (r.template ? ' (template)' : '') + (r.declared ? '' : ' (undeclared)');
    const nameWidth = Math.max(4, ...rows.map((r) => label(r).length)) + 2;
    process.stdout.write(
      `${'ID'.padEnd(11)}${'KIND'.padEnd(6)}${'NAME'.padEnd(nameWidth)}${'STATUS'.padEnd(9)}DRIFT\n`,
    );
    for (const r of rows) {
      const tone = !r.exists ? style.red : r.status === 'running' ? style.green : (s: string) => s;
      process.stdout.write(
        `${String(r.id).padEnd(11)}${r.kind.padEnd(6)}${label(r).padEnd(nameWidth)}${tone(r.status.padEnd(9))}${r.drift}\n`,
      );
    }
    return EXIT.ok;
  });
}

async function statusRows(s: Session, args: readonly string[]): Promise<StatusRow[]> {
  const observed = await s.readCtx.drivers.hypervisor.listGuests();
  const byId = new Map(observed.map((o) => [o.id, o]));
  const wanted = args.length ? resolveGuests(s.inventory, args) : [...s.inventory.guests.values()];
  const rows: StatusRow[] = wanted.map((g) => {
    const o = byId.get(g.id);
    const d = decideGuest(g, o);
    return {
      id: g.id,
      kind: g.kind,
      name: g.name,
      declared: true,
      exists: Boolean(o),
      status: o?.status ?? 'missing',
      template: g.isTemplate,
      drift: d.action === 'noop' ? '' : d.reason,
    };
  });
  if (!args.length) {
    for (const o of observed) {
      if (s.inventory.guests.has(o.id)) continue;
      rows.push({
        id: o.id,
        kind: o.kind,
        name: o.settings.name,
        declared: false,
        exists: true,
        status: o.status,
        template: o.template,
        drift: 'not in the configuration',
      });
    }
  }
  return rows.sort((a, b) => a.id - b.id);
}
