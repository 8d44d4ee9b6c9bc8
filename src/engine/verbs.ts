import type { ResourceGraph, ResourceNode } from '../graph/types.js';
import type { Guest, GuestId, Inventory } from '../model/inventory.js';

/**
 * The guest lifecycle verbs as small resource graphs, so they run on the same engine as sync (journal,
 * lock, retries, cascade-skip, progress). Semantics kept from the original where they were sound, fixed
 * where they were not: status covers LXCs and VMs, stop and restart touch only the named guests, boot order
 * applies to VMs too, templates never start, delete refuses to orphan dependents unless forced.
 */

export class VerbError extends Error {}

const gid = (id: GuestId) => `guest/${id}`;
const powerId = (id: GuestId) => `power/${id}`;
const removalId = (id: GuestId) => `removal/${id}`;

function node(
  id: string,
  g: Guest,
  spec: ResourceNode['spec'],
  requires: string[],
  label: string,
): ResourceNode {
  return { id, kind: spec.kind, label, requires, triggers: [], owns: [], origin: g.origin, spec };
}

export function resolveGuests(inv: Inventory, args: readonly string[]): Guest[] {
  if (args.length === 0) throw new VerbError('name at least one guest id (or use `all`)');
  if (args.length === 1 && args[0] === 'all') return [...inv.guests.values()];
  return args.map((a) => {
    const digits = a.replace(/^guest\//, '');
    const g = /^\d+$/.test(digits) ? inv.guests.get(Number(digits)) : undefined;
    if (!g)
      throw new VerbError(
        `guest ${a} is not declared in the configuration (declared: ${[...inv.guests.keys()].join(', ')})`,
      );
    return g;
  });
}

/** Clone sources and dependencies, transitively. */
export function guestClosure(inv: Inventory, roots: readonly Guest[]): Guest[] {
  return closure(inv, roots, (g) => [...(g.cloneFrom !== undefined ? [g.cloneFrom] : []), ...g.dependencies]);
}

/** Dependencies only, transitively: what must run for these guests to run. */
function dependencyClosure(inv: Inventory, roots: readonly Guest[]): Guest[] {
  return closure(inv, roots, (g) => g.dependencies);
}

function closure(inv: Inventory, roots: readonly Guest[], next: (g: Guest) => readonly GuestId[]): Guest[] {
  const seen = new Map<GuestId, Guest>();
  const todo = [...roots];
  while (todo.length) {
    const g = todo.pop()!;
    if (seen.has(g.id)) continue;
    seen.set(g.id, g);
    for (const r of next(g)) {
      const dep = inv.guests.get(r);
      if (dep) todo.push(dep);
    }
  }
  return [...seen.values()];
}

function requirementsOf(g: Guest, within: ReadonlySet<GuestId>): GuestId[] {
  return [...(g.cloneFrom !== undefined ? [g.cloneFrom] : []), ...g.dependencies].filter((r) =>
    within.has(r),
  );
}

/** `create`: missing guests and their missing requirements; existing ones are left alone, nothing started. */
export function createGraph(inv: Inventory, roots: readonly Guest[]): ResourceGraph {
  const all = guestClosure(inv, roots);
  const ids = new Set(all.map((g) => g.id));
  return graphOf(
    all.map((g) =>
      node(
        gid(g.id),
        g,
        { kind: 'guest', guest: g, createOnly: true },
        requirementsOf(g, ids).map(gid),
        `create ${g.id}`,
      ),
    ),
  );
}

/** `converge`: the whole chain re-applied to its declaration (create, reconfigure, start as declared). */
export function convergeGraph(inv: Inventory, roots: readonly Guest[]): ResourceGraph {
  const all = guestClosure(inv, roots);
  const ids = new Set(all.map((g) => g.id));
  return graphOf(
    all.map((g) =>
      node(gid(g.id), g, { kind: 'guest', guest: g }, requirementsOf(g, ids).map(gid), `converge ${g.id}`),
    ),
  );
}

/**
 * Boot order: lower `boot_order` first; 0 (unset) last, as Proxmox does. A guest never starts before what
 * it depends on: one that depends on a later-ordered guest moves to that guest's group, so boot order and
 * dependencies can never contradict each other (no cycle, nothing silently left out).
 */
function bootGroups(guests: readonly Guest[]): Guest[][] {
  const byId = new Map(guests.map((g) => [g.id, g]));
  const own = (g: Guest) => (g.boot.order > 0 ? g.boot.order : Number.MAX_SAFE_INTEGER);
  const rank = new Map<GuestId, number>();
  const effective = (g: Guest, path: Set<GuestId>): number => {
    const known = rank.get(g.id);
    if (known !== undefined) return known;
    path.add(g.id);
    let r = own(g);
    for (const d of g.dependencies) {
      const dep = byId.get(d);
      if (dep && !path.has(d)) r = Math.max(r, effective(dep, path));
    }
    path.delete(g.id);
    rank.set(g.id, r);
    return r;
  };
  const groups = new Map<number, Guest[]>();
  for (const g of guests) {
    const r = effective(g, new Set());
    (groups.get(r) ?? groups.set(r, []).get(r)!).push(g);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, gs]) => gs);
}

function bootEdges(groups: Guest[][], id: (g: GuestId) => string, reverse = false): Map<GuestId, string[]> {
  const edges = new Map<GuestId, string[]>();
  const seq = reverse ? [...groups].reverse() : groups;
  seq.forEach((group, i) => {
    for (const g of group) edges.set(g.id, i > 0 ? seq[i - 1]!.map((p) => id(p.id)) : []);
  });
  return edges;
}

/** `start`: the named guests and the guests they depend on, in dependency and boot order. */
export function startGraph(inv: Inventory, roots: readonly Guest[], everything = false): ResourceGraph {
  if (everything) roots = roots.filter((g) => !g.isTemplate);
  const named = roots.filter((g) => g.isTemplate);
  if (named.length)
    throw new VerbError(
      `${named.map((g) => g.id).join(', ')} ${named.length > 1 ? 'are templates' : 'is a template'}; templates are never started`,
    );
  const all = dependencyClosure(inv, roots).filter((g) => !g.isTemplate);
  return powerGraph(all, 'running');
}

/** Power changes over exactly `guests`, ordered by boot order (reversed for stopping) and dependencies. */
export function powerGraph(
  guests: readonly Guest[],
  want: 'running' | 'stopped' | 'restarted',
  after: readonly string[] = [],
): ResourceGraph {
  const ids = new Set(guests.map((g) => g.id));
  const boot = bootEdges(bootGroups(guests), powerId, want === 'stopped');
  return graphOf(
    guests.map((g) => {
      // Stopping runs dependents first: a guest stops after everything that depends on it.
      const deps =
        want === 'stopped'
          ? guests.filter((o) => o.dependencies.includes(g.id)).map((o) => o.id)
          : g.dependencies.filter((d) => ids.has(d));
      const requires = [...new Set([...deps.map(powerId), ...(boot.get(g.id) ?? []), ...after])];
      return node(powerId(g.id), g, { kind: 'power', guest: g, want }, requires, `${want} ${g.id}`);
    }),
  );
}

/** `delete`: refuses to orphan dependents unless forced; forced, it deletes dependents first. */
export function deleteGraph(inv: Inventory, roots: readonly Guest[], force: boolean): ResourceGraph {
  const dependentsOf = (id: GuestId) =>
    [...inv.guests.values()].filter((o) => o.cloneFrom === id || o.dependencies.includes(id));
  const selected = new Map(roots.map((g) => [g.id, g]));
  const orphans = roots.flatMap((g) =>
    dependentsOf(g.id)
      .filter((d) => !selected.has(d.id))
      .map((d) => `${d.id} (needs ${g.id})`),
  );
  if (orphans.length && !force) {
    throw new VerbError(
      `refusing to delete: other guests depend on it: ${[...new Set(orphans)].join(', ')}. Delete those too, or use --force to delete them first.`,
    );
  }
  const todo = [...roots];
  while (todo.length) {
    for (const d of dependentsOf(todo.pop()!.id)) {
      if (selected.has(d.id)) continue;
      selected.set(d.id, d);
      todo.push(d);
    }
  }
  const all = [...selected.values()];
  return graphOf(
    all.map((g) =>
      node(
        removalId(g.id),
        g,
        { kind: 'removal', guest: g },
        dependentsOf(g.id)
          .filter((d) => selected.has(d.id))
          .map((d) => removalId(d.id)),
        `delete ${g.id}`,
      ),
    ),
  );
}

/** `LetsGo`: create everything, then start in boot order (VMs included), templates excepted. */
export function letsGoGraph(inv: Inventory): ResourceGraph {
  const all = [...inv.guests.values()];
  const create = createGraph(inv, all);
  // What starts at boot, and whatever that depends on (templates never).
  const startable = dependencyClosure(
    inv,
    all.filter((g) => !g.isTemplate && g.boot.onBoot),
  ).filter((g) => !g.isTemplate);
  const power = powerGraph(startable, 'running', [...create.nodes.keys()]);
  return graphOf([...create.nodes.values(), ...power.nodes.values()]);
}

function graphOf(nodes: readonly ResourceNode[]): ResourceGraph {
  return { nodes: new Map(nodes.map((n) => [n.id, n])) };
}
