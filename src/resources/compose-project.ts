import type { StackDeploy, StackObservation } from '../drivers/containers/types.js';
import { DriverError } from '../drivers/errors.js';
import type { ResourceKind, ResourceNode } from '../graph/types.js';
import type { DockerPlace } from './docker-place.js';
import type { Context, Handler } from './types.js';
import { noop } from './types.js';
import { decideNotReady, whenReady } from './not-ready.js';

/**
 * One handler shape for every compose project Phoenix deploys (a stack, the Portainer agent): the wanted
 * content is built at read (it may need a secret), compared by hash with what the Docker side holds, and a
 * deploy is proven by reading the project back with every service running.
 */
export interface Project {
  readonly place: DockerPlace;
  readonly deploy: StackDeploy;
}

export interface ProjectObservation {
  readonly seen: StackObservation | undefined;
  /** Portainer cannot be asked yet (fresh system): why. */
  readonly notReady?: string;
  readonly name: string;
  readonly wantedHash: string;
  readonly where: string;
}

const notRunning = (seen: StackObservation) => seen.services.filter((s) => !s.running).map((s) => s.name);

export function composeProjectHandler(
  kind: ResourceKind,
  resolve: (ctx: Context, node: ResourceNode) => Promise<Project>,
): Handler<ProjectObservation> {
  return {
    kind,
    async read(ctx, node) {
      const { place, deploy } = await resolve(ctx, node);
      const got = await whenReady(() => place.getStack(deploy.name));
      const base = { name: deploy.name, wantedHash: deploy.contentHash, where: place.where };
      return 'value' in got
        ? { ...base, seen: got.value }
        : { ...base, seen: undefined, notReady: got.notReady };
    },
    decide(_node, { seen, notReady, name, wantedHash, where }, upstream) {
      if (notReady !== undefined) return decideNotReady(notReady, upstream, `deploy ${name} on ${where}`);
      if (!seen) return { action: 'create', reason: `${name} is not deployed on ${where}` };
      if (seen.contentHash !== wantedHash)
        return { action: 'update', reason: 'compose file or environment changed' };
      const down = notRunning(seen);
      if (down.length) return { action: 'update', reason: `services not running: ${down.join(', ')}` };
      return noop(`${name} is deployed and running`);
    },
    async apply(ctx, node) {
      const { place, deploy } = await resolve(ctx, node);
      await place.deployStack(deploy);
    },
    async verify(ctx, node) {
      const { place, deploy } = await resolve(ctx, node);
      const seen = await place.getStack(deploy.name);
      if (!seen) throw new DriverError(`${deploy.name} is not on ${place.where} after deploying it`);
      if (seen.contentHash !== deploy.contentHash)
        throw new DriverError(`${deploy.name} on ${place.where} is not the version just deployed`);
      const down = notRunning(seen);
      if (down.length)
        throw new DriverError(`${deploy.name} on ${place.where}: services not running: ${down.join(', ')}`);
    },
  };
}
