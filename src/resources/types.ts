import type { Inventory } from '../model/inventory.js';
import type { ResourceGraph, ResourceKind, ResourceNode } from '../graph/types.js';
import type { Drivers } from '../drivers/index.js';
import type { CertificateStore } from '../certs/store.js';

/**
 * The resource contract, after Pulumi's dynamic providers and cert-manager's policy chains:
 * read observes through drivers (no writes), decide is pure and says why, apply changes the world
 * idempotently, verify proves the outcome live.
 */

export type Action = 'noop' | 'create' | 'update' | 'replace' | 'delete';

export interface Change {
  readonly field: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

export interface Decision {
  readonly action: Action;
  /** A sentence for humans: "certificate expires in 9 days (renew window 10 days)". */
  readonly reason: string;
  readonly changes?: readonly Change[];
}

/** What decide may know of the rest of the plan: which requirements change in this run. */
export interface Upstream {
  /** Ids among this node's requirements whose decision is not noop. */
  readonly changed: readonly string[];
  /** What each of those does in this run (a stack created now vs. updated). */
  readonly actions?: ReadonlyMap<string, Action>;
}

export interface Context {
  readonly inventory: Inventory;
  readonly graph: ResourceGraph;
  readonly drivers: Drivers;
  readonly certs: CertificateStore;
  /** Aborted on Ctrl-C and deadlines; long waits must honour it. */
  readonly signal: AbortSignal;
  /** Reports a bounded wait, so progress output says what is awaited. */
  readonly waiting: (awaited: string, deadlineMs: number) => void;
  /** How long a reloaded service may take to serve the installed certificates (default 20 s). */
  readonly servedDeadlineMs?: number;
  /** Certificates to renew whether due or not (`certs renew --force`). */
  readonly forceRenew?: ReadonlySet<string>;
  /** Handlers owed by an earlier run that ended between a change and its handler: id → cause. */
  readonly pendingHandlers?: ReadonlyMap<string, string>;
}

export interface Handler<Observed = unknown> {
  readonly kind: ResourceKind;
  read(ctx: Context, node: ResourceNode): Promise<Observed>;
  decide(node: ResourceNode, observed: Observed, upstream: Upstream): Decision;
  apply(ctx: Context, node: ResourceNode, decision: Decision, observed: Observed): Promise<void>;
  verify(ctx: Context, node: ResourceNode): Promise<void>;
  /**
   * Its apply has a step after the write that observation cannot see (a reload). The engine records the
   * node as owed before applying, so a run cut short in between is finished by the next one.
   */
  readonly resumable?: boolean;
  /** Serialisable summary of what was observed; a saved plan refuses to apply when it changed. */
  fingerprint?(observed: Observed): string;
}

export const noop = (reason: string): Decision => ({ action: 'noop', reason });
