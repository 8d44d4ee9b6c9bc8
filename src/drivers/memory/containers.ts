import { createHash } from 'node:crypto';
import { DriverError, NotFoundError } from '../errors.js';
import { CONTAINER_MUTATIONS } from '../containers/types.js';
import type {
  ContainerDriver,
  ContainerObservation,
  StackDeploy,
  StackObservation,
  VolumeSpec,
} from '../containers/types.js';
import type { GuestId } from '../../model/inventory.js';
import { CallRecorder } from './calls.js';
import type { MemoryDriverOptions } from './calls.js';
import { scanCompose } from './compose-scan.js';
import type { MemoryWorld, WorldContainer, WorldDocker } from './world.js';

/**
 * Docker (as Portainer drives it) inside the emulated guests. Reads of a guest that does not exist yet
 * see an empty daemon, so a plan can be made before the guest is created; changes need the guest to exist
 * and run, as the Docker daemon lives inside it.
 */

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** Docker's answer for an unknown container: a NotFoundError, with the daemon's wording. */
export class NoSuchContainer extends NotFoundError {
  constructor(name: string) {
    super(`container ${name}`);
    this.message = `Error response from daemon: No such container: ${name}`;
  }
}

export class MemoryContainers implements ContainerDriver {
  readonly name = 'memory';
  private readonly recorder: CallRecorder;

  constructor(
    readonly world: MemoryWorld,
    options: MemoryDriverOptions = {},
  ) {
    this.recorder = new CallRecorder(CONTAINER_MUTATIONS, options);
  }

  get calls(): ReadonlyMap<string, number> {
    return this.recorder.calls;
  }
  get mutations(): number {
    return this.recorder.mutations;
  }
  get faults() {
    return this.recorder.faults;
  }

  async listVolumes(guest: GuestId): Promise<VolumeSpec[]> {
    await this.recorder.enter('listVolumes', [guest]);
    const volumes = this.world.guest(guest)?.docker.volumes ?? {};
    return Object.values(volumes)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((v) => ({ ...v }));
  }

  async getStack(guest: GuestId, name: string): Promise<StackObservation | undefined> {
    await this.recorder.enter('getStack', [guest, name]);
    const docker = this.world.guest(guest)?.docker;
    const stack = docker?.stacks[name];
    if (!docker || !stack) return undefined;
    return {
      name: stack.name,
      contentHash: stack.contentHash,
      services: stack.services.map((s) => ({
        ...s,
        running: docker.containers[s.container]?.running ?? false,
      })),
    };
  }

  async getContainer(guest: GuestId, name: string): Promise<ContainerObservation | undefined> {
    await this.recorder.enter('getContainer', [guest, name]);
    const container = this.world.guest(guest)?.docker.containers[name];
    return container && { name: container.name, running: container.running, startedAt: container.startedAt };
  }

  /** Like `docker volume create`: an existing volume of the same driver is success (and keeps its options). */
  async createVolume(guest: GuestId, spec: VolumeSpec): Promise<void> {
    await this.recorder.enter('createVolume', [guest, spec]);
    const docker = this.runningDocker(guest);
    if (!VOLUME_NAME.test(spec.name)) {
      throw new DriverError(
        `create ${spec.name}: "${spec.name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
      );
    }
    const existing = docker.volumes[spec.name];
    if (existing) {
      if (existing.driver === spec.driver) return;
      throw new DriverError(
        `Error response from daemon: create ${spec.name}: driver '${existing.driver}' already has volume '${spec.name}': volume name must be unique`,
      );
    }
    this.world.mutate(() => {
      docker.volumes[spec.name] = { ...spec };
    });
  }

  /**
   * Like Portainer's stack deploy (`docker compose up -d`): external volumes must already exist; declared
   * local volumes are created; containers whose service definition changed are recreated, the others kept.
   */
  async deployStack(guest: GuestId, stack: StackDeploy): Promise<void> {
    await this.recorder.enter('deployStack', [guest, stack]);
    if (!PROJECT_NAME.test(stack.name)) {
      throw new DriverError(
        `invalid project name "${stack.name}": must be lowercase letters, digits, "-" or "_"`,
      );
    }
    let scanned;
    try {
      scanned = await scanCompose(stack.name, stack.compose, stack.env);
    } catch (err) {
      throw new DriverError(`failed to deploy a stack: ${(err as Error).message}`);
    }
    // Looked up after the await: the guest may have changed while the file was parsed.
    const docker = this.runningDocker(guest);
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
    this.world.mutate(() => {
      const startedAt = this.world.now().toISOString();
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
        };
        docker.containers[service.container] = container;
      }
      // Services dropped from the file keep running as orphans: Portainer does not prune by default.
      docker.stacks[stack.name] = {
        name: stack.name,
        contentHash: stack.contentHash,
        services: scanned.services.map((s) => ({ name: s.name, container: s.container })),
      };
    });
  }

  async restartContainer(guest: GuestId, name: string): Promise<void> {
    await this.recorder.enter('restartContainer', [guest, name]);
    const docker = this.runningDocker(guest);
    const container = docker.containers[name];
    if (!container) throw new NoSuchContainer(name);
    this.world.mutate(() => {
      container.running = true;
      container.startedAt = this.world.now().toISOString();
    });
  }

  private runningDocker(id: GuestId): WorldDocker {
    const guest = this.world.guest(id);
    if (!guest) throw new NotFoundError(`guest ${id}`);
    if (guest.status !== 'running') {
      throw new DriverError(
        'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
      );
    }
    return guest.docker;
  }
}

/** A stable stand-in for Docker's 64-hex container id, for messages. */
function containerId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}
