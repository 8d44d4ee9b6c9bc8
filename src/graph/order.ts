import { MinHeap } from '../lib/min-heap.js';
import type { ResourceGraph } from './types.js';

/** The ids needed by `wanted`: themselves and everything they transitively require. */
export function requiredClosure(graph: ResourceGraph, wanted: readonly string[]): Set<string> {
  const out = new Set<string>();
  const todo = [...wanted];
  while (todo.length) {
    const id = todo.pop()!;
    if (out.has(id) || !graph.nodes.has(id)) continue;
    out.add(id);
    todo.push(...graph.nodes.get(id)!.requires);
  }
  return out;
}

/**
 * The ids that depend on `from`: themselves and everything that transitively requires them (downstream:
 * a certificate's files, the reloads those trigger, the configs that name the files). Unknown ids are
 * ignored, as in requiredClosure.
 */
export function dependentClosure(graph: ResourceGraph, from: readonly string[]): Set<string> {
  const dependents = new Map<string, string[]>();
  for (const node of graph.nodes.values()) {
    for (const r of node.requires) {
      let list = dependents.get(r);
      if (!list) dependents.set(r, (list = []));
      list.push(node.id);
    }
  }
  const out = new Set<string>();
  const todo = [...from];
  while (todo.length) {
    const id = todo.pop()!;
    if (out.has(id) || !graph.nodes.has(id)) continue;
    out.add(id);
    todo.push(...(dependents.get(id) ?? []));
  }
  return out;
}

/** The graph restricted to some ids (edges to ids outside are dropped). */
export function subgraph(graph: ResourceGraph, keep: ReadonlySet<string>): ResourceGraph {
  const nodes = new Map([...graph.nodes].filter(([id]) => keep.has(id)));
  return { nodes };
}

/**
 * One valid execution order (requirements first). Kahn's algorithm; among ready nodes the one declared
 * first goes first, so the order is stable for a given config. Nodes on a cycle are left out.
 */
export function executionOrder(graph: ResourceGraph): string[] {
  const position = new Map([...graph.nodes.keys()].map((id, i) => [id, i]));
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const node of graph.nodes.values()) {
    const reqs = [...new Set(node.requires)].filter((r) => graph.nodes.has(r));
    waiting.set(node.id, reqs.length);
    for (const r of reqs) {
      let list = dependents.get(r);
      if (!list) dependents.set(r, (list = []));
      list.push(node.id);
    }
  }
  const ready = new MinHeap<string>((a, b) => position.get(a)! - position.get(b)!);
  for (const [id, n] of waiting) if (n === 0) ready.push(id);
  const order: string[] = [];
  while (ready.size) {
    const id = ready.pop()!;
    order.push(id);
    for (const d of dependents.get(id) ?? []) {
      const left = waiting.get(d)! - 1;
      waiting.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  return order;
}
