import type { VolumeSpec } from '../drivers/containers/types.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceNode } from '../graph/types.js';
import type { DockerVolume } from '../model/inventory.js';
import { dockerAt, type DockerPlace } from './docker-place.js';
import type { Context, Handler } from './types.js';
import { noop } from './types.js';
import { decideNotReady, whenReady } from './not-ready.js';

function target(ctx: Context, node: ResourceNode): { place: DockerPlace; volume: DockerVolume } {
  if (node.spec.kind !== 'volume') throw new Error(`${node.id} is not a volume`);
  const { guest, route, placement, volume } = node.spec;
  return { place: dockerAt(ctx, guest, route, placement), volume };
}

function specOf(v: DockerVolume): VolumeSpec {
  return { name: v.name, driver: v.driver, server: v.server, export: v.export, options: v.options };
}

const same = (a: VolumeSpec, b: VolumeSpec) =>
  a.driver === b.driver && (a.server ?? '') === (b.server ?? '') && (a.export ?? '') === (b.export ?? '');

interface VolumeObservation {
  readonly seen: VolumeSpec | undefined;
  readonly where: string;
  readonly notReady?: string;
}

/** Volumes hold data: a sync creates them before their stacks, and never removes or recreates one. */
export const volumeHandler: Handler<VolumeObservation> = {
  kind: 'volume',
  async read(ctx, node) {
    const { place, volume } = target(ctx, node);
    const got = await whenReady(() => place.listVolumes());
    if (!('value' in got)) return { seen: undefined, where: place.where, notReady: got.notReady };
    return { seen: got.value.find((v) => v.name === volume.name), where: place.where };
  },
  decide(node, { seen, where, notReady }, upstream) {
    if (node.spec.kind !== 'volume') throw new Error(`${node.id} is not a volume`);
    const { volume } = node.spec;
    if (notReady !== undefined)
      return decideNotReady(notReady, upstream, `create volume ${volume.name} on ${where}`);
    if (!seen) return { action: 'create', reason: `volume ${volume.name} does not exist on ${where}` };
    if (!same(seen, specOf(volume))) {
      return {
        action: 'replace',
        reason: `volume ${volume.name} on ${where} is ${seen.driver}${seen.server ? ` ${seen.server}:${seen.export}` : ''}, declared ${volume.driver}`,
      };
    }
    return noop(`volume ${volume.name} exists`);
  },
  async apply(ctx, node, decision) {
    const { place, volume } = target(ctx, node);
    if (decision.action === 'replace') {
      throw new DriverError(
        `${decision.reason}; Phoenix never removes a volume (its data would go): move the data and remove it by hand`,
      );
    }
    await place.createVolume(specOf(volume));
  },
  async verify(ctx, node) {
    const { place, volume } = target(ctx, node);
    const seen = (await place.listVolumes()).find((v) => v.name === volume.name);
    if (!seen) throw new DriverError(`volume ${volume.name} is not on ${place.where} after creating it`);
  },
};
