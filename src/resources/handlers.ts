import type { ResourceNode } from '../graph/types.js';
import type { Decision } from './types.js';
import { noop } from './types.js';

/** Handlers run only when something they watch changed in this run, and only after all of it is in place. */
export function decideTrigger(node: ResourceNode, changed: readonly string[], what: string): Decision {
  const fired = changed.filter((id) => node.triggers.includes(id));
  if (!fired.length) return noop(`nothing it watches changed`);
  return { action: 'update', reason: `${what}: ${fired.join(', ')} changed` };
}
