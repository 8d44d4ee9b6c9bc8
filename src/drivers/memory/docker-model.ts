import { createHash } from 'node:crypto';
import type { ContainerObservation, StackDeploy, StackObservation, VolumeSpec } from '../containers/types.js';
import { DriverError, NotFoundError } from '../errors.js';
import { scanCompose } from './compose-scan.js';
import { emptyDocker, type WorldContainer, type WorldDocker } from './world.js';

export { emptyDocker };

/**
 * One Docker daemon's behaviour over its plain state, shared by the in-memory world and the lab: the
 * messages and refusals of `docker volume create`, Portainer's stack deploy (`docker compose up -d`) and
 * `docker restart`. Callers own the state's storage and locking.
 */

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export const DAEMON_DOWN =
  'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';

export class NoSuchContainer extends NotFoundError {
  constructor(name: string) {
    super(`container ${name}`);
    this.message = `Error response from daemon: No such container: ${name}`;
  }
}

export function listVolumes(docker: WorldDocker): VolumeSpec[] {
  return Object.values(docker.volumes)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((v) => ({ ...v }));
}

export function observeStack(docker: WorldDocker, name: string): StackObservation | undefined {
  const stack = docker.stacks[name];
  if (!stack) return undefined;
  return {
    name: stack.name,
    contentHash: stack.contentHash,
    services: stack.services.map((s) => ({
      ...s,
      running: docker.containers[s.container]?.running ?? false,
    })),
  };
}

export function observeContainer(docker: WorldDocker, name: string): ContainerObservation | undefined {
  const c = docker.containers[name];
  return c && { name: c.name, running: c.running, startedAt: c.startedAt };
}

/**
 * `docker volume create`, checked: true when the volume must be made; false when one of the same driver is
 * already there (success, keeping its options); throws what Docker refuses.
 */
export function volumeNeeded(docker: WorldDocker, spec: VolumeSpec): boolean {
  if (!VOLUME_NAME.test(spec.name)) {
    throw new DriverError(
      `create ${spec.name}: "${spec.name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
    );
  }
  const existing = docker.volumes[spec.name];
  if (existing) {
    if (existing.driver === spec.driver) return false;
    throw new DriverError(
      `Error response from daemon: create ${spec.name}: driver '${existing.driver}' already has volume '${spec.name}': volume name must be unique`,
    );
  }
  return true;
}

export function createVolume(docker: WorldDocker, spec: VolumeSpec): void {
  docker.volumes[spec.name] = { ...spec };
}

export type ScannedStack = Awaited<ReturnType<typeof scanCompose>>;

/** The compose file as Portainer would parse it; refuses what compose refuses. Nothing changes yet. */
export async function scanStack(stack: StackDeploy): Promise<ScannedStack> {
  if (!PROJECT_NAME.test(stack.name)) {
    throw new DriverError(
      `invalid project name "${stack.name}": must be lowercase letters, digits, "-" or "_"`,
    );
  }
  try {
    return await scanCompose(stack.name, stack.compose, stack.env);
  } catch (err) {
    throw new DriverError(`failed to deploy a stack: ${(err as Error).message}`);
  }
}

/** Everything a deploy would refuse, checked before anything changes (the analysis's missing volume first). */
export function checkDeploy(docker: WorldDocker, stack: StackDeploy, scanned: ScannedStack): void {
  const missing = scanned.volumes.find((v) => v.external && !docker.volumes[v.name]);
  if (missing) throw new DriverError(`external volume "${missing.name}" not found`);
  for (const service of scanned.services) {
    const holder = docker.containers[service.container];
    if (holder && holder.stack !== stack.name) {
      throw new DriverError(
        `Conflict. The container name "/${service.container}" is already in use by container "${containerId(service.container)}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
  }
}

/** `docker compose up -d`: declared local volumes created; changed services recreated, the others kept. */
export function applyDeploy(docker: WorldDocker, stack: StackDeploy, scanned: ScannedStack, now: Date): void {
  const startedAt = now.toISOString();
  for (const volume of scanned.volumes) {
    if (!volume.external) docker.volumes[volume.name] ??= { name: volume.name, driver: 'local' };
  }
  for (const service of scanned.services) {
    const current = docker.containers[service.container];
    const unchanged = current?.configHash === service.configHash;
    const container: WorldContainer = {
      name: service.container,
      running: true,
      startedAt: unchanged && current.running ? current.startedAt : startedAt,
      stack: stack.name,
      configHash: service.configHash,
      ...(service.restart === undefined ? {} : { restart: service.restart }),
      ...(service.image === undefined ? {} : { image: service.image }),
      ...(service.command === undefined ? {} : { command: [...service.command] }),
      ports: service.ports.map((p) => ({ ...p })),
      binds: service.binds.map((b) => ({ ...b })),
    };
    docker.containers[service.container] = container;
  }
  // Services dropped from the file keep running as orphans: Portainer does not prune by default.
  docker.stacks[stack.name] = {
    name: stack.name,
    contentHash: stack.contentHash,
    services: scanned.services.map((s) => ({ name: s.name, container: s.container })),
  };
}

export function restartContainer(docker: WorldDocker, name: string, now: Date): void {
  const container = docker.containers[name];
  if (!container) throw new NoSuchContainer(name);
  container.running = true;
  container.startedAt = now.toISOString();
}

/** A stable stand-in for Docker's 64-hex container id, for messages. */
function containerId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}
