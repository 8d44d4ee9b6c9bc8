import type { StackDeploy, StackObservation, VolumeSpec } from '../drivers/containers/types.js';
import type { StackPlacement } from '../drivers/portainer/driver.js';
import type { GuestId } from '../model/inventory.js';
import type { StackRoute } from '../model/portainer.js';
import type { Context } from './types.js';

/**
 * The Docker a stack or volume node acts on: the guest's own daemon (direct) or the guest's Portainer
 * environment. Resolved at call time through ctx.drivers, so tracing and plan's read-only guard apply.
 */
export interface DockerPlace {
  /** For messages: "guest 1002" or "guest 1002 (Portainer environment drphoenix)". */
  readonly where: string;
  listVolumes(): Promise<VolumeSpec[]>;
  createVolume(spec: VolumeSpec): Promise<void>;
  getStack(name: string): Promise<StackObservation | undefined>;
  deployStack(stack: StackDeploy): Promise<void>;
}

export function dockerAt(
  ctx: Context,
  guest: GuestId,
  route: StackRoute,
  placement?: StackPlacement,
): DockerPlace {
  if (route.via === 'direct') {
    const docker = ctx.drivers.containers;
    return {
      where: `guest ${guest}`,
      listVolumes: () => docker.listVolumes(guest),
      createVolume: (spec) => docker.createVolume(guest, spec),
      getStack: (name) => docker.getStack(guest, name),
      deployStack: (stack) => docker.deployStack(guest, stack),
    };
  }
  const portainer = ctx.drivers.portainer;
  const env = route.environment;
  return {
    where: `guest ${guest} (Portainer environment ${env}${placement?.mode === 'swarm' ? ', swarm' : ''})`,
    listVolumes: () => portainer.listVolumes(env, placement),
    createVolume: (spec) => portainer.createVolume(env, spec, placement),
    getStack: (name) => portainer.getStack(env, name),
    deployStack: (stack) => portainer.deployStack(env, stack, placement),
  };
}
