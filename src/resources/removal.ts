import { DriverError } from '../drivers/errors.js';
import type { GuestObservation } from '../drivers/hypervisor/types.js';
import type { ResourceNode } from '../graph/types.js';
import type { Guest } from '../model/inventory.js';
import { waitFor } from '../engine/wait.js';
import type { Handler } from './types.js';
import { noop } from './types.js';

function guestOf(node: ResourceNode): Guest {
  if (node.spec.kind !== 'removal') throw new Error(`${node.id} is not a removal`);
  return node.spec.guest;
}

export const removalHandler: Handler<GuestObservation | undefined> = {
  kind: 'removal',
  read: (ctx, node) => ctx.drivers.hypervisor.getGuest(guestOf(node).id),
  decide(node, seen) {
    const g = guestOf(node);
    if (!seen) return noop(`guest ${g.id} does not exist`);
    return {
      action: 'delete',
      reason:
        seen.status === 'running'
          ? `stop and destroy guest ${g.id} (${g.name})`
          : `destroy guest ${g.id} (${g.name})`,
    };
  },
  async apply(ctx, node, _d, seen) {
    const g = guestOf(node);
    const hv = ctx.drivers.hypervisor;
    if (seen?.status === 'running') {
      await hv.stopGuest(g.id);
      await waitFor(
        ctx,
        `guest ${g.id} stopped`,
        120_000,
        async () => (await hv.getGuest(g.id))?.status === 'stopped',
      );
    }
    await hv.deleteGuest(g.id);
  },
  async verify(ctx, node) {
    const g = guestOf(node);
    if (await ctx.drivers.hypervisor.getGuest(g.id))
      throw new DriverError(`guest ${g.id} still exists after destroying it`);
  },
};
