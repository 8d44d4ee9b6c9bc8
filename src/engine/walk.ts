import { MinHeap } from '../lib/min-heap.js';

/**
 * A DAG walker in the manner of Terraform's: a node starts once everything it requires has succeeded;
 * a failure marks every dependent skipped (naming the root cause) while independent branches go on.
 * It knows nothing of resources: `visit` does the work and says whether anything changed.
 */

export type VisitResult = 'ok' | 'unchanged';
export type WalkOutcome =
  | { readonly status: 'ok' | 'unchanged' }
  | { readonly status: 'failed'; readonly error: unknown }
  | {
      readonly status: 'skipped';
      readonly cause: string;
      readonly reason: 'dependency-failed' | 'interrupted';
    };

export interface WalkGraph {
  /** Ids in a stable order (ties are broken by this order). */
  readonly ids: readonly string[];
  /** Requirements of an id; ids outside `ids` are ignored (outside the selection). */
  requires(id: string): readonly string[];
}

export interface WalkOptions {
  /** Global bound on nodes running at once. */
  readonly concurrency: number;
  /** A second, keyed bound (e.g. per Proxmox node): ids with the same key share `limitPerKey` slots. */
  readonly limitKey?: (id: string) => string | undefined;
  readonly limitPerKey?: number;
  /** Once aborted, no new node starts; running ones finish. */
  readonly signal?: AbortSignal;
}

export async function walk(
  graph: WalkGraph,
  visit: (id: string) => Promise<VisitResult>,
  opts: WalkOptions,
  onSkip?: (id: string, outcome: Extract<WalkOutcome, { status: 'skipped' }>) => void,
): Promise<Map<string, WalkOutcome>> {
  const inSet = new Set(graph.ids);
  const order = new Map(graph.ids.map((id, i) => [id, i]));
  const reqs = new Map<string, string[]>();
  const dependents = new Map<string, string[]>();
  for (const id of graph.ids) {
    const r = [...new Set(graph.requires(id))].filter((x) => inSet.has(x) && x !== id);
    reqs.set(id, r);
    for (const x of r) (dependents.get(x) ?? dependents.set(x, []).get(x)!).push(id);
  }
  const priority = longestPathToSink(graph.ids, dependents);
  const pending = new Map(graph.ids.map((id) => [id, reqs.get(id)!.length]));
  const outcomes = new Map<string, WalkOutcome>();
  // Critical-path-first list scheduling: among ready nodes, the one with the longest chain behind it goes first.
  const byPriority = (a: string, b: string) =>
    priority.get(b)! - priority.get(a)! || order.get(a)! - order.get(b)!;
  // One ready heap per limit key (and one for unkeyed ids), so a saturated key never has to be scanned.
  const ready = new Map<string | undefined, MinHeap<string>>();
  const makeReady = (id: string) => {
    const key = opts.limitKey?.(id);
    let heap = ready.get(key);
    if (!heap) ready.set(key, (heap = new MinHeap<string>(byPriority)));
    heap.push(id);
  };
  const hasRoom = (key: string | undefined) =>
    key === undefined || (runningPerKey.get(key) ?? 0) < (opts.limitPerKey ?? Infinity);
  /** The most urgent ready id whose key has room, taken off its heap. */
  const takeNext = (): { id: string; key: string | undefined } | undefined => {
    let best: { key: string | undefined; heap: MinHeap<string> } | undefined;
    for (const [key, heap] of ready) {
      const top = heap.peek();
      if (top === undefined || !hasRoom(key)) continue;
      if (!best || byPriority(top, best.heap.peek()!) < 0) best = { key, heap };
    }
    return best && { id: best.heap.pop()!, key: best.key };
  };
  for (const id of graph.ids) if (pending.get(id) === 0) makeReady(id);
  const runningPerKey = new Map<string, number>();
  let running = 0;

  const finish = (id: string, outcome: WalkOutcome) => {
    outcomes.set(id, outcome);
    const failedRoot =
      outcome.status === 'failed' ? id : outcome.status === 'skipped' ? outcome.cause : undefined;
    for (const d of dependents.get(id) ?? []) {
      if (outcomes.has(d)) continue;
      if (failedRoot !== undefined) {
        skipTree(d, failedRoot, outcome.status === 'skipped' ? outcome.reason : 'dependency-failed');
        continue;
      }
      const left = pending.get(d)! - 1;
      pending.set(d, left);
      if (left === 0) makeReady(d);
    }
  };
  const skipTree = (id: string, cause: string, reason: 'dependency-failed' | 'interrupted') => {
    if (outcomes.has(id)) return;
    const outcome = { status: 'skipped', cause, reason } as const;
    onSkip?.(id, outcome);
    finish(id, outcome);
  };

  await new Promise<void>((resolve) => {
    const pump = () => {
      if (opts.signal?.aborted) {
        for (const heap of ready.values()) {
          for (let id = heap.pop(); id !== undefined; id = heap.pop()) skipTree(id, id, 'interrupted');
        }
      }
      while (running < opts.concurrency && !opts.signal?.aborted) {
        const next = takeNext();
        if (!next) break;
        const { id, key } = next;
        running++;
        if (key !== undefined) runningPerKey.set(key, (runningPerKey.get(key) ?? 0) + 1);
        visit(id).then(
          (result) => done(id, key, { status: result }),
          (error: unknown) => done(id, key, { status: 'failed', error }),
        );
      }
      if (running === 0) {
        // Nothing runs and nothing can start: whatever is left is blocked by an interrupt (or a cycle).
        for (const id of graph.ids) if (!outcomes.has(id)) skipTree(id, id, 'interrupted');
        resolve();
      }
    };
    const done = (id: string, key: string | undefined, outcome: WalkOutcome) => {
      running--;
      if (key !== undefined) runningPerKey.set(key, runningPerKey.get(key)! - 1);
      finish(id, outcome);
      pump();
    };
    opts.signal?.addEventListener('abort', pump, { once: true });
    pump();
  });
  return outcomes;
}

/** Length (in nodes) of the longest chain of dependents behind each id. */
function longestPathToSink(ids: readonly string[], dependents: Map<string, string[]>): Map<string, number> {
  const memo = new Map<string, number>();
  // Iterative post-order so that long chains cannot overflow the stack.
  for (const root of ids) {
    if (memo.has(root)) continue;
    const stack: Array<{ id: string; expanded: boolean }> = [{ id: root, expanded: false }];
    const onPath = new Set<string>();
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (memo.has(top.id)) {
        stack.pop();
        continue;
      }
      const next = dependents.get(top.id) ?? [];
      if (!top.expanded) {
        top.expanded = true;
        onPath.add(top.id);
        for (const d of next) if (!memo.has(d) && !onPath.has(d)) stack.push({ id: d, expanded: false });
        continue;
      }
      stack.pop();
      onPath.delete(top.id);
      memo.set(top.id, 1 + next.reduce((m, d) => Math.max(m, memo.get(d) ?? 0), 0));
    }
  }
  return memo;
}
