import { DriverError } from '../drivers/errors.js';
import type { GuestObservation } from '../drivers/hypervisor/types.js';
import type { ResourceNode } from '../graph/types.js';
import type { Guest } from '../model/inventory.js';
import { waitFor } from '../engine/wait.js';
import type { Context, Decision, Handler } from './types.js';
import { noop } from './types.js';

type Want = 'running' | 'stopped' | 'restarted';

function target(node: ResourceNode): { guest: Guest; want: Want } {
  if (node.spec.kind !== 'power') throw new Error(`${node.id} is not a power action`);
  return node.spec;
}

const STATE_DEADLINE_MS = 120_000;

export function decidePower(g: Guest, want: Want, seen: GuestObservation | undefined): Decision {
  const label = `${g.kind === 'lxc' ? 'container' : 'VM'} ${g.id}`;
  if (!seen)
    return want === 'stopped'
      ? noop(`${label} does not exist`)
      : { action: 'update', reason: `${label} does not exist` };
  if (seen.template || g.isTemplate) return noop(`${label} is a template; templates are never started`);
  if (want === 'restarted') return { action: 'update', reason: `restart ${label}` };
  if (seen.status === want) return noop(`${label} is already ${want}`);
  return { action: 'update', reason: `${want === 'running' ? 'start' : 'stop'} ${label}` };
}

async function waitForStatus(ctx: Context, g: Guest, status: 'running' | 'stopped'): Promise<void> {
  await waitFor(
    ctx,
    `guest ${g.id} ${status}`,
    STATE_DEADLINE_MS,
    async () => (await ctx.drivers.hypervisor.getGuest(g.id))?.status === status,
  );
}

export const powerHandler: Handler<GuestObservation | undefined> = {
  kind: 'power',
  read: (ctx, node) => ctx.drivers.hypervisor.getGuest(target(node).guest.id),
  decide: (node, seen) => decidePower(target(node).guest, target(node).want, seen),
  async apply(ctx, node, _d, seen) {
    const { guest, want } = target(node);
    if (!seen)
      throw new DriverError(
        `guest ${guest.id} does not exist; create it first (\`phoenix create ${guest.id}\`)`,
      );
    const hv = ctx.drivers.hypervisor;
    if (want !== 'running' && seen.status === 'running') {
      await hv.stopGuest(guest.id);
      await waitForStatus(ctx, guest, 'stopped');
    }
    if (want !== 'stopped') {
      await hv.startGuest(guest.id);
      await waitForStatus(ctx, guest, 'running');
    }
  },
  async verify(ctx, node) {
    const { guest, want } = target(node);
    const status = (await ctx.drivers.hypervisor.getGuest(guest.id))?.status;
    const expected = want === 'stopped' ? 'stopped' : 'running';
    if (status !== expected)
      throw new DriverError(`guest ${guest.id} is ${status ?? 'missing'}, expected ${expected}`);
  },
};
