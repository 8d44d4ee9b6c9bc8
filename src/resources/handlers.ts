import type { ResourceNode } from '../graph/types.js';
import type { Context, Decision } from './types.js';
import { noop } from './types.js';

/** What a handler observes: only whether an earlier run left it owed. */
export interface HandlerDebt {
  readonly pending?: string;
}

/**
 * Handlers run only when something they watch changed in this run (or changed in an earlier run that
 * ended before the handler ran), and only after all of it is in place.
 */
export function decideTrigger(
  node: ResourceNode,
  changed: readonly string[],
  what: string,
  debt?: HandlerDebt,
): Decision {
  const fired = changed.filter((id) => node.triggers.includes(id));
  if (fired.length)
    return {
      action: 'update',
      reason: `${what}: ${fired.join(', ')} changed`,
      // Apply needs to know what changed in this run: only those can be put back when the handler fails.
      changes: fired.map((id) => ({ field: 'trigger', to: id })),
    };
  if (debt?.pending)
    return { action: 'update', reason: `${what}: still owed since an earlier run changed ${debt.pending}` };
  return noop(`nothing it watches changed`);
}

export function readDebt(ctx: Context, node: ResourceNode): HandlerDebt {
  const pending = ctx.pendingHandlers?.get(node.id);
  return pending ? { pending } : {};
}
