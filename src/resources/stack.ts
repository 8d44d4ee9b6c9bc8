import { createHash } from 'node:crypto';
import type { StackDeploy, StackObservation } from '../drivers/containers/types.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestId, Stack } from '../model/inventory.js';
import type { Handler } from './types.js';
import { noop } from './types.js';

function target(node: ResourceNode): { guest: GuestId; stack: Stack; environment: string } {
  if (node.spec.kind !== 'stack') throw new Error(`${node.id} is not a stack`);
  return node.spec;
}

/** What is deployed: the compose file as written and the environment's variables. */
export function deployment(stack: Stack, environment: string): StackDeploy {
  const vars = stack.config.environments[environment]?.variables ?? [];
  const env = Object.fromEntries(
    [...vars].sort((a, b) => a.name.localeCompare(b.name)).map((v) => [v.name, v.value]),
  );
  const contentHash = createHash('sha256')
    .update(stack.composeText)
    .update('\0')
    .update(JSON.stringify(env))
    .digest('hex');
  return { name: stack.name, compose: stack.composeText, env, contentHash };
}

export const stackHandler: Handler<StackObservation | undefined> = {
  kind: 'stack',
  read: (ctx, node) => ctx.drivers.containers.getStack(target(node).guest, target(node).stack.name),
  decide(node, seen) {
    const { guest, stack, environment } = target(node);
    if (!seen) return { action: 'create', reason: `stack ${stack.name} is not deployed on ${guest}` };
    if (seen.contentHash !== deployment(stack, environment).contentHash)
      return { action: 'update', reason: 'compose file or environment changed' };
    const down = seen.services.filter((s) => !s.running).map((s) => s.name);
    if (down.length) return { action: 'update', reason: `services not running: ${down.join(', ')}` };
    return noop(`stack ${stack.name} is deployed and running`);
  },
  apply: (ctx, node) =>
    ctx.drivers.containers.deployStack(
      target(node).guest,
      deployment(target(node).stack, target(node).environment),
    ),
  async verify(ctx, node) {
    const { guest, stack, environment } = target(node);
    const seen = await ctx.drivers.containers.getStack(guest, stack.name);
    if (!seen || seen.contentHash !== deployment(stack, environment).contentHash)
      throw new DriverError(`stack ${stack.name} on ${guest} is not the deployed version`);
    const down = seen.services.filter((s) => !s.running).map((s) => s.name);
    if (down.length)
      throw new DriverError(`stack ${stack.name} on ${guest}: services not running: ${down.join(', ')}`);
  },
};
