import type { VolumeSpec } from '../drivers/containers/types.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { DockerVolume, GuestId } from '../model/inventory.js';
import type { Handler } from './types.js';
import { noop } from './types.js';

function target(node: ResourceNode): { guest: GuestId; volume: DockerVolume } {
  if (node.spec.kind !== 'volume') throw new Error(`${node.id} is not a volume`);
  return node.spec;
}

function specOf(v: DockerVolume): VolumeSpec {
  return { name: v.name, driver: v.driver, server: v.server, export: v.export, options: v.options };
}

const same = (a: VolumeSpec, b: VolumeSpec) =>
  a.driver === b.driver && (a.server ?? '') === (b.server ?? '') && (a.export ?? '') === (b.export ?? '');

/** Volumes hold data: a sync creates them before their stacks, and never removes or recreates one. */
export const volumeHandler: Handler<VolumeSpec | undefined> = {
  kind: 'volume',
  read: async (ctx, node) =>
    (await ctx.drivers.containers.listVolumes(target(node).guest)).find(
      (v) => v.name === target(node).volume.name,
    ),
  decide(node, seen) {
    const { guest, volume } = target(node);
    if (!seen) return { action: 'create', reason: `volume ${volume.name} does not exist on ${guest}` };
    if (!same(seen, specOf(volume))) {
      return {
        action: 'replace',
        reason: `volume ${volume.name} on ${guest} is ${seen.driver}${seen.server ? ` ${seen.server}:${seen.export}` : ''}, declared ${volume.driver}`,
      };
    }
    return noop(`volume ${volume.name} exists`);
  },
  async apply(ctx, node, decision) {
    const { guest, volume } = target(node);
    if (decision.action === 'replace') {
      throw new DriverError(
        `${decision.reason}; Phoenix never removes a volume (its data would go): move the data and remove it by hand`,
      );
    }
    await ctx.drivers.containers.createVolume(guest, specOf(volume));
  },
  async verify(ctx, node) {
    const { guest, volume } = target(node);
    const seen = (await ctx.drivers.containers.listVolumes(guest)).find((v) => v.name === volume.name);
    if (!seen) throw new DriverError(`volume ${volume.name} is not on ${guest} after creating it`);
  },
};
