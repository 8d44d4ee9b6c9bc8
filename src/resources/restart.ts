import type { ContainerObservation } from '../drivers/containers/types.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestId } from '../model/inventory.js';
import { decideTrigger, readDebt, type HandlerDebt } from './handlers.js';
import type { Handler } from './types.js';
import { noop } from './types.js';

function target(node: ResourceNode): { guest: GuestId; container: string; stack?: string } {
  if (node.spec.kind !== 'restart') throw new Error(`${node.id} is not a restart`);
  return node.spec;
}

export const restartHandler: Handler<HandlerDebt & { container?: ContainerObservation }> = {
  kind: 'restart',
  read: async (ctx, node) => ({
    ...readDebt(ctx, node),
    container: await ctx.drivers.containers.getContainer(target(node).guest, target(node).container),
  }),
  decide(node, { container, ...debt }, upstream) {
    const { container: name, stack } = target(node);
    const d = decideTrigger(node, upstream.changed, `restart ${name}`, debt);
    if (d.action === 'noop') return d;
    // The stack that creates the container runs after the files are in place: a container it creates
    // now, or one that does not exist yet, starts with the new files.
    const stackId = stack === undefined ? undefined : `stack/${target(node).guest}:${stack}`;
    if (stackId && upstream.actions?.get(stackId) === 'create') {
      return noop(`container ${name} is created by ${stackId} in this run, after the new files`);
    }
    if (!container && !(stackId && upstream.changed.includes(stackId))) {
      return noop(`container ${name} does not exist yet; it will start with the new files`);
    }
    return d;
  },
  async apply(ctx, node) {
    const { guest, container } = target(node);
    if (!(await ctx.drivers.containers.getContainer(guest, container))) return;
    await ctx.drivers.containers.restartContainer(guest, container);
  },
  async verify(ctx, node) {
    const { guest, container } = target(node);
    const c = await ctx.drivers.containers.getContainer(guest, container);
    if (c && !c.running)
      throw new DriverError(`container ${container} on ${guest} is not running after the restart`);
  },
};
