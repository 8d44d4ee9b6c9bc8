import { DriverError } from '../drivers/errors.js';
import type { ResourceGraph, ResourceNode } from '../graph/types.js';
import { handlerFor } from '../resources/index.js';
import type { Context, Decision } from '../resources/types.js';
import { sleep } from './concurrency.js';
import { now, type Counts, type EventSink, type NodeOutcome, type RunOutcome } from './events.js';
import type { Journal } from './journal.js';
import { decideAll, errorText, fingerprintOf, observeAll, type Observation, type Plan } from './plan.js';
import { walk, type WalkOutcome } from './walk.js';

export interface ExecuteOptions {
  readonly command: string;
  readonly concurrency: number;
  /** Per Proxmox node: config locks time out under parallel writes. */
  readonly perNodeLimit: number;
  readonly retry: { readonly attempts: number; readonly baseDelayMs: number };
  /** Starts no new node once aborted (Ctrl-C); running nodes finish. */
  readonly interrupt: AbortSignal;
  /** A saved plan to apply exactly; its observations must still hold. */
  readonly plan?: Plan;
}

export interface ExecuteEnv {
  /** Context whose drivers mutate: used for the walk. */
  readonly ctx: Context;
  /** The same context with read-only drivers: used for the observation round. */
  readonly readCtx: Context;
  readonly journal?: Journal;
  readonly runId: string;
  readonly emit: EventSink;
}

export interface ExecuteResult {
  readonly outcome: RunOutcome;
  readonly counts: Counts;
  readonly outcomes: ReadonlyMap<string, NodeOutcome>;
  /** Nodes whose saved-plan observation no longer holds (apply refused). */
  readonly stale?: readonly string[];
}

/**
 * Observe everything once in parallel, decide in dependency order, then walk only what changes: a node whose
 * decision is noop and whose requirements did not change in this run costs nothing more. A node below a
 * change is read again just before it acts, since what it depends on is new.
 */
export async function execute(
  graph: ResourceGraph,
  order: readonly string[],
  env: ExecuteEnv,
  opts: ExecuteOptions,
): Promise<ExecuteResult> {
  const { ctx, readCtx, emit } = env;
  emit({ type: 'phase', phase: 'observe', at: now() });
  const observed = await observeAll(readCtx, order, opts.concurrency * 4);
  if (opts.plan) {
    const stale = staleNodes(opts.plan, graph, observed);
    if (stale.length) return { outcome: 'failed', counts: zero(), outcomes: new Map(), stale };
  }
  const planned = opts.plan ? decisionsFromPlan(opts.plan) : decideAll(graph, order, observed);

  emit({ type: 'phase', phase: 'apply', at: now() });
  /** Nodes changed in this run, with what they did. */
  const changed = new Map<string, Decision['action']>();
  const outcomes = new Map<string, NodeOutcome>();
  const counts = zero();
  const end = (
    id: string,
    outcome: NodeOutcome,
    d: Pick<Decision, 'action' | 'reason'>,
    started: number,
    error?: string,
  ) => {
    outcomes.set(id, outcome);
    counts[outcome]++;
    emit({
      type: 'node-end',
      id,
      action: d.action,
      outcome,
      reason: d.reason,
      ...(error ? { error } : {}),
      durationMs: Date.now() - started,
      at: now(),
    });
  };

  const handlersWatching = watchers(graph);
  const visit = async (id: string): Promise<'ok' | 'unchanged'> => {
    const started = Date.now();
    const node = graph.nodes.get(id)!;
    const handler = handlerFor(node.kind);
    const upstream = node.requires.filter((r) => changed.has(r));
    let obs: Observation = observed.get(id)!;
    let decision = planned.get(id);
    if (decision?.action === 'noop' && upstream.length === 0) {
      end(id, 'unchanged', decision, started);
      return 'unchanged';
    }
    try {
      if (upstream.length > 0 || !obs.ok) {
        obs = { ok: true, value: await handler.read(ctx, node) };
        const fresh = handler.decide(node, obs.value, {
          changed: upstream,
          actions: new Map(upstream.map((u) => [u, changed.get(u)!])),
        });
        // A saved plan fixes what to do; what a node below a change now sees only fills in the details.
        decision = opts.plan && decision && decision.action !== 'noop' ? decision : fresh;
      }
      if (!decision) throw new Error(`${id} has no decision`);
    } catch (error) {
      end(
        id,
        'failed',
        decision ?? { action: 'noop', reason: 'could not be observed' },
        started,
        errorText(error),
      );
      throw error;
    }
    if (decision.action === 'noop') {
      // Decided with everything this run changed in view: whatever was owed to it is settled.
      if (node.triggers.length || handler.resumable) env.journal?.clearPending(id);
      end(id, 'unchanged', decision, started);
      return 'unchanged';
    }
    emit({ type: 'node-start', id, action: decision.action, reason: decision.reason, at: now() });
    // Owed before the change is made: a crash between this change and its handlers leaves the debt recorded.
    env.journal?.markPending([...(handlersWatching.get(id) ?? []), ...(handler.resumable ? [id] : [])], id);
    const nodeCtx: Context = {
      ...ctx,
      waiting: (awaited, deadlineMs) => emit({ type: 'node-wait', id, awaited, deadlineMs, at: now() }),
    };
    try {
      await applyWithRetries(node, decision, obs.value, { ...env, ctx: nodeCtx }, opts);
      await handler.verify(nodeCtx, node);
    } catch (error) {
      end(id, 'failed', decision, started, errorText(error));
      throw error;
    }
    if (node.triggers.length || handler.resumable) env.journal?.clearPending(id);
    changed.set(id, decision.action);
    end(id, 'ok', decision, started);
    return 'ok';
  };

  const results = await walk(
    { ids: order, requires: (id) => graph.nodes.get(id)?.requires ?? [] },
    visit,
    {
      concurrency: opts.concurrency,
      limitKey: (id) => nodeKey(graph.nodes.get(id)!, ctx),
      limitPerKey: opts.perNodeLimit,
      signal: opts.interrupt,
    },
    (id, skip) => {
      const reason =
        skip.reason === 'interrupted'
          ? 'not started: the run was interrupted'
          : `skipped because ${skip.cause} failed`;
      env.journal?.actionEnded(
        env.journal.actionStarted(env.runId, { resourceId: id, action: 'noop', reason }),
        { outcome: 'skipped', durationMs: 0 },
      );
      end(id, 'skipped', { action: planned.get(id)?.action ?? 'noop', reason }, Date.now());
    },
  );
  const interrupted = [...results.values()].some(
    (o: WalkOutcome) => o.status === 'skipped' && o.reason === 'interrupted',
  );
  const outcome: RunOutcome = counts.failed > 0 ? 'failed' : interrupted ? 'interrupted' : 'ok';
  return { outcome, counts, outcomes };
}

async function applyWithRetries(
  node: ResourceNode,
  decision: Decision,
  observed: unknown,
  env: ExecuteEnv,
  opts: ExecuteOptions,
): Promise<void> {
  const handler = handlerFor(node.kind);
  for (let attempt = 1; ; attempt++) {
    // Journalled before the mutation, so a crash leaves a record of what was under way.
    const actionId = env.journal?.actionStarted(env.runId, {
      resourceId: node.id,
      action: decision.action,
      reason: decision.reason,
      attempt,
    });
    const started = Date.now();
    try {
      await handler.apply(env.ctx, node, decision, observed);
      if (actionId !== undefined)
        env.journal?.actionEnded(actionId, { outcome: 'ok', durationMs: Date.now() - started });
      return;
    } catch (error) {
      if (actionId !== undefined)
        env.journal?.actionEnded(actionId, {
          outcome: 'failed',
          error: errorText(error),
          durationMs: Date.now() - started,
        });
      const retryable = error instanceof DriverError && error.retryable;
      if (!retryable || attempt >= opts.retry.attempts) throw error;
      const delayMs = Math.round(opts.retry.baseDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      env.emit({
        type: 'node-retry',
        id: node.id,
        attempt: attempt + 1,
        delayMs,
        error: errorText(error),
        at: now(),
      });
      await sleep(delayMs, env.ctx.signal);
    }
  }
}

/** Trigger id → the handler nodes that watch it. */
function watchers(graph: ResourceGraph): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const node of graph.nodes.values()) {
    for (const t of node.triggers) (out.get(t) ?? out.set(t, []).get(t)!).push(node.id);
  }
  return out;
}

function staleNodes(plan: Plan, graph: ResourceGraph, observed: ReadonlyMap<string, Observation>): string[] {
  return plan.nodes
    .filter(
      (p) =>
        !graph.nodes.has(p.id) || fingerprintOf(handlerFor(p.kind), observed.get(p.id)) !== p.fingerprint,
    )
    .map((p) => p.id);
}

function decisionsFromPlan(plan: Plan): Map<string, Decision | undefined> {
  return new Map(
    plan.nodes.map((n) => [
      n.id,
      n.action === 'unknown' ? undefined : { action: n.action, reason: n.reason, changes: n.changes },
    ]),
  );
}

/** Kinds whose work writes a guest's Proxmox configuration (create, clone, set, start, stop, destroy). */
const LIFECYCLE: ReadonlySet<string> = new Set(['guest', 'power', 'removal']);

/**
 * The Proxmox node a guest lifecycle action lands on, for the per-node limit: Proxmox takes a config lock
 * per guest and node-wide locks for clones and storage, which time out under many parallel writes. Other
 * work (files, certificates, stacks) is bounded by the global limit only.
 */
export function nodeKey(node: ResourceNode, ctx: Pick<Context, 'inventory'>): string | undefined {
  if (!LIFECYCLE.has(node.spec.kind) || !('guest' in node.spec) || typeof node.spec.guest !== 'object')
    return undefined;
  return `node:${ctx.inventory.guests.get(node.spec.guest.id)?.node ?? 'local'}`;
}

function zero(): Counts {
  return { ok: 0, unchanged: 0, failed: 0, skipped: 0 };
}
