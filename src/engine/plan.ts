import { createHash } from 'node:crypto';
import type { ResourceGraph, ResourceKind } from '../graph/types.js';
import type { Action, Change, Context, Decision, Handler } from '../resources/types.js';
import { handlerFor } from '../resources/index.js';
import { mapLimit } from './concurrency.js';

/** What was observed of one node: the value, or why it could not be read. */
export type Observation =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export interface PlannedNode {
  readonly id: string;
  readonly kind: ResourceKind;
  readonly action: Action | 'unknown';
  readonly reason: string;
  readonly changes?: readonly Change[];
  /** Summary of what was observed; `phoenix apply` refuses a plan whose observations no longer hold. */
  readonly fingerprint: string;
}

export interface Plan {
  readonly format: 'phoenix-plan/1';
  readonly createdAt: string;
  readonly configDir: string;
  readonly configDigest: string;
  readonly selection: readonly string[];
  readonly nodes: readonly PlannedNode[];
}

export interface PlanSummary {
  create: number;
  update: number;
  replace: number;
  delete: number;
  unchanged: number;
  unknown: number;
}

/** Observes every selected node at once, read-only and bounded, each through its own handler. */
export async function observeAll(
  ctx: Context,
  ids: readonly string[],
  concurrency: number,
): Promise<Map<string, Observation>> {
  const results = await mapLimit(ids, concurrency, async (id): Promise<Observation> => {
    const node = ctx.graph.nodes.get(id)!;
    try {
      return { ok: true, value: await handlerFor(node.kind).read(ctx, node) };
    } catch (error) {
      return { ok: false, error };
    }
  });
  return new Map(ids.map((id, i) => [id, results[i]!]));
}

/**
 * Decides every node in dependency order. A node's `upstream.changed` lists the requirements that change
 * in this plan, so handlers (a reload, a file written from a certificate) know what this run will alter.
 */
export function decideAll(
  graph: ResourceGraph,
  order: readonly string[],
  observed: ReadonlyMap<string, Observation>,
): Map<string, Decision | undefined> {
  const decisions = new Map<string, Decision | undefined>();
  for (const id of order) {
    const node = graph.nodes.get(id)!;
    const obs = observed.get(id);
    if (!obs?.ok) {
      decisions.set(id, undefined);
      continue;
    }
    const changed = node.requires.filter((r) => {
      const d = decisions.get(r);
      return d !== undefined && d.action !== 'noop';
    });
    const actions = new Map(changed.map((r) => [r, decisions.get(r)!.action]));
    decisions.set(id, handlerFor(node.kind).decide(node, obs.value, { changed, actions }));
  }
  return decisions;
}

export function fingerprintOf(handler: Handler, obs: Observation | undefined): string {
  if (!obs) return '';
  if (!obs.ok) return `error:${errorText(obs.error)}`;
  const text = handler.fingerprint ? handler.fingerprint(obs.value) : JSON.stringify(obs.value ?? null);
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export function buildPlan(
  graph: ResourceGraph,
  selection: readonly string[],
  order: readonly string[],
  observed: ReadonlyMap<string, Observation>,
  decisions: ReadonlyMap<string, Decision | undefined>,
  meta: { configDir: string; configDigest: string },
): Plan {
  const nodes: PlannedNode[] = order.map((id) => {
    const node = graph.nodes.get(id)!;
    const obs = observed.get(id);
    const d = decisions.get(id);
    return {
      id,
      kind: node.kind,
      action: d?.action ?? 'unknown',
      reason: d?.reason ?? `could not be observed: ${obs && !obs.ok ? errorText(obs.error) : 'not read'}`,
      ...(d?.changes?.length ? { changes: d.changes } : {}),
      fingerprint: fingerprintOf(handlerFor(node.kind), obs),
    };
  });
  return { format: 'phoenix-plan/1', createdAt: new Date().toISOString(), ...meta, selection, nodes };
}

export function summarize(plan: Pick<Plan, 'nodes'>): PlanSummary {
  const s: PlanSummary = { create: 0, update: 0, replace: 0, delete: 0, unchanged: 0, unknown: 0 };
  for (const n of plan.nodes) {
    if (n.action === 'noop') s.unchanged++;
    else s[n.action]++;
  }
  return s;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
