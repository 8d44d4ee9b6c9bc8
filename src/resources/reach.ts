import { decideTrigger } from './handlers.js';
import { verifyGatewayReachesMesh } from './network-verify.js';
import type { Handler } from './types.js';

/**
 * A check, not a change: the gateway reaches the mesh for every routed name. It runs when either end
 * changed in this run, after both are in place; its apply has nothing to write, its verify is the proof.
 */
export const reachHandler: Handler<Record<string, never>> = {
  kind: 'reach',
  read: () => Promise.resolve({}),
  decide: (node, _seen, upstream) => decideTrigger(node, upstream.changed, 'prove the path'),
  apply: () => Promise.resolve(),
  verify: (ctx) => verifyGatewayReachesMesh(ctx),
};
