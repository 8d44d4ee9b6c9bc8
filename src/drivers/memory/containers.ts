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
import {
  applyDeploy,
  checkDeploy,
  createVolume,
  DAEMON_DOWN,
  emptyDocker,
  listVolumes,
  NoSuchContainer,
  observeContainer,
  observeStack,
  restartContainer,
  scanStack,
  volumeNeeded,
} from './docker-model.js';
import type { MemoryWorld, WorldDocker } from './world.js';

export { NoSuchContainer };

/**
 * Docker (as Portainer drives it) inside the emulated guests. Reads of a guest that does not exist yet
 * see an empty daemon, so a plan can be made before the guest is created; changes need the guest to exist
 * and run, as the Docker daemon lives inside it.
 */

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
    return listVolumes(this.world.guest(guest)?.docker ?? emptyDocker());
  }

  async getStack(guest: GuestId, name: string): Promise<StackObservation | undefined> {
    await this.recorder.enter('getStack', [guest, name]);
    return observeStack(this.world.guest(guest)?.docker ?? emptyDocker(), name);
  }

  async getContainer(guest: GuestId, name: string): Promise<ContainerObservation | undefined> {
    await this.recorder.enter('getContainer', [guest, name]);
    return observeContainer(this.world.guest(guest)?.docker ?? emptyDocker(), name);
  }

  async createVolume(guest: GuestId, spec: VolumeSpec): Promise<void> {
    await this.recorder.enter('createVolume', [guest, spec]);
    const docker = this.runningDocker(guest);
    if (!volumeNeeded(docker, spec)) return;
    this.world.mutate(() => createVolume(docker, spec));
  }

  async deployStack(guest: GuestId, stack: StackDeploy): Promise<void> {
    await this.recorder.enter('deployStack', [guest, stack]);
    const scanned = await scanStack(stack);
    // Looked up after the await: the guest may have changed while the file was parsed.
    const docker = this.runningDocker(guest);
    checkDeploy(docker, stack, scanned);
    this.world.mutate(() => applyDeploy(docker, stack, scanned, this.world.now()));
  }

  async restartContainer(guest: GuestId, name: string): Promise<void> {
    await this.recorder.enter('restartContainer', [guest, name]);
    const docker = this.runningDocker(guest);
    if (!docker.containers[name]) throw new NoSuchContainer(name);
    this.world.mutate(() => restartContainer(docker, name, this.world.now()));
  }

  private runningDocker(id: GuestId): WorldDocker {
    const guest = this.world.guest(id);
    if (!guest) throw new NotFoundError(`guest ${id}`);
    if (guest.status !== 'running') {
      throw new DriverError(DAEMON_DOWN);
    }
    return guest.docker;
  }
}
