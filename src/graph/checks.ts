import type { Diagnostics, Origin } from '../config/diagnostics.js';
import { requiredClosure } from './order.js';
import type { ResourceGraph, ResourceNode } from './types.js';

/** Static checks that make the analysis's two failure classes impossible before anything runs. */
export function checkGraph(graph: ResourceGraph, diags: Diagnostics): void {
  checkRequirements(graph, diags);
  checkOwners(graph, diags);
  checkCycles(graph, diags);
  checkDockerOrder(graph, diags);
}

/**
 * What Docker needs first is required, directly or through others: a stack after every volume it mounts
 * (the analysis's second failure: a compose project ran before the step that created its volume), a
 * container restart after the stack that creates the container.
 */
function checkDockerOrder(graph: ResourceGraph, diags: Diagnostics): void {
  for (const node of graph.nodes.values()) {
    const needed =
      node.spec.kind === 'stack'
        ? node.spec.stack.volumes.map((v) => `volume/${(node.spec as { guest: number }).guest}:${v.name}`)
        : node.spec.kind === 'restart' && node.spec.stack !== undefined
          ? [`stack/${node.spec.guest}:${node.spec.stack}`]
          : [];
    if (needed.length === 0) continue;
    const before = requiredClosure(graph, [node.id]);
    for (const id of needed) {
      if (before.has(id)) continue;
      diags.error(
        node.origin ?? NO_ORIGIN,
        'graph.order',
        `${node.id} needs ${id}, but nothing makes it wait for it: it could run first (the analysis's volume race)`,
      );
    }
  }
}

const NO_ORIGIN: Origin = { file: '(graph)', pointer: '' };

/** Every `requires` edge points at something that creates it. */
function checkRequirements(graph: ResourceGraph, diags: Diagnostics): void {
  for (const node of graph.nodes.values()) {
    for (const req of node.requires) {
      if (graph.nodes.has(req)) continue;
      diags.error(
        node.origin ?? NO_ORIGIN,
        'graph.unprovided',
        `${node.id} requires ${req}, which nothing in the configuration creates${hintFor(req, graph)}`,
      );
    }
  }
}

function hintFor(id: string, graph: ResourceGraph): string {
  const kind = id.split('/')[0];
  const same = [...graph.nodes.keys()].filter((k) => k.startsWith(`${kind}/`));
  if (same.length === 0) return '';
  const close = same
    .map((k) => [k, similarity(k, id)] as const)
    .filter(([, score]) => score > 0.6)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k]) => k);
  return close.length ? ` (did you mean ${close.join(', ')}?)` : '';
}

function similarity(a: string, b: string): number {
  const grams = (s: string) =>
    new Set(Array.from({ length: Math.max(0, s.length - 1) }, (_, i) => s.slice(i, i + 2)));
  const A = grams(a);
  const B = grams(b);
  let common = 0;
  for (const g of A) if (B.has(g)) common++;
  return (2 * common) / (A.size + B.size || 1);
}

/** One writer per fact: no two resources own the same file, however it is reached. */
function checkOwners(graph: ResourceGraph, diags: Diagnostics): void {
  const owners = new Map<string, ResourceNode>();
  for (const node of graph.nodes.values()) {
    for (const owned of node.owns) {
      const prior = owners.get(owned.key);
      if (!prior) {
        owners.set(owned.key, node);
        continue;
      }
      if (prior.id === node.id) continue;
      const where = owned.key.startsWith('host:') ? ` (host path ${owned.key.slice(5)})` : '';
      diags.error(
        node.origin ?? NO_ORIGIN,
        'owner.duplicate',
        `${node.id} and ${prior.id} both write ${owned.guest}:${owned.path}${where}; a file has exactly one writer`,
      );
    }
  }
}

/** Reports each cycle once, printed as the chain of ids that closes it. */
function checkCycles(graph: ResourceGraph, diags: Diagnostics): void {
  for (const cycle of findCycles(graph)) {
    const first = graph.nodes.get(cycle[0]!)!;
    diags.error(
      first.origin ?? NO_ORIGIN,
      'graph.cycle',
      `dependency cycle: ${[...cycle, cycle[0]].join(' → ')}`,
    );
  }
}

/** Tarjan's strongly connected components, iteratively (deep chains must not overflow the stack). */
export function findCycles(graph: ResourceGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  const succ = (id: string) => (graph.nodes.get(id)?.requires ?? []).filter((r) => graph.nodes.has(r));

  for (const root of graph.nodes.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ id: string; next: number }> = [{ id: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const edges = succ(frame.id);
      if (frame.next < edges.length) {
        const w = edges[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ id: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.id);
        const selfLoop = component.length === 1 && succ(frame.id).includes(frame.id);
        if (component.length > 1 || selfLoop) cycles.push(cycleThrough(component, succ));
      }
    }
  }
  return cycles;
}

/** A concrete cycle inside a strongly connected component, starting from its smallest id. */
function cycleThrough(component: string[], succ: (id: string) => string[]): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  const seen = new Set([start]);
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of succ(v)) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0]!)!);
        return path;
      }
      if (!seen.has(w)) {
        seen.add(w);
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}
