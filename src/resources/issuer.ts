import { createHash } from 'node:crypto';
import type { ResourceNode } from '../graph/types.js';
import type { Handler } from './types.js';
import { noop } from './types.js';

function name(node: ResourceNode): string {
  if (node.spec.kind !== 'issuer') throw new Error(`${node.id} is not an issuer`);
  return node.spec.issuer.name;
}

/**
 * The CA is run by its guest; this node proves it answers before any certificate is requested from it.
 * Reading its roots is the check: a CA that is down fails here, and every certificate it signs is skipped.
 */
export const issuerHandler: Handler<{ rootsSha256: string }> = {
  kind: 'issuer',
  read: async (ctx, node) => ({
    rootsSha256: createHash('sha256')
      .update(await ctx.drivers.issuer(name(node)).roots())
      .digest('hex'),
  }),
  decide: (node, seen) => noop(`CA ${name(node)} answers (root ${seen.rootsSha256.slice(0, 12)}…)`),
  apply: async () => {},
  verify: async () => {},
};
