import { join } from 'node:path';
import { DriverError, NotFoundError } from '../drivers/errors.js';
import type {
  ContainerDriver,
  ContainerObservation,
  StackDeploy,
  StackObservation,
  VolumeSpec,
} from '../drivers/containers/types.js';
import type { HypervisorDriver } from '../drivers/hypervisor/types.js';
import {
  applyDeploy,
  checkDeploy,
  createVolume,
  DAEMON_DOWN,
  emptyDocker,
  listVolumes,
  observeContainer,
  observeStack,
  restartContainer,
  scanStack,
  volumeNeeded,
} from '../drivers/memory/docker-model.js';
import type { WorldContainer, WorldDocker } from '../drivers/memory/world.js';
import type { GuestId } from '../model/inventory.js';
import { readJson, writeJson } from './sandbox-fs.js';
import { serialised } from './sandbox-store.js';

/**
 * EMULATED Docker (as Portainer drives it) inside lab guests: no container ever runs. The daemon's state
 * is kept per guest in `<lab>/guests/<id>/docker.json`; the rules are the memory emulator's (the same
 * compose scan, so a missing external volume fails exactly like Docker), and changes need the guest to run.
 */

/** Told the guest's new daemon state after each change, while the guest's state is still locked. */
export type DockerChanged = (guest: GuestId, docker: WorldDocker) => Promise<void>;

export interface LabContainersOptions {
  /**
   * The lab mirrors some containers with processes (services/portainer.ts). A failure here fails the
   * mutation's call, although the state is already written: like `docker compose up -d` reporting a
   * container that exited right away, and a later deploy or restart tries again.
   */
  readonly onChange?: DockerChanged;
}

export class LabContainers implements ContainerDriver {
  readonly name = 'lab-docker (emulated)';

  constructor(
    readonly guestsDir: string,
    private readonly hypervisor: Pick<HypervisorDriver, 'getGuest'>,
    private readonly now: () => Date = () => new Date(),
    private readonly options: LabContainersOptions = {},
  ) {}

  private file(guest: GuestId): string {
    return join(this.guestsDir, String(guest), 'docker.json');
  }

  private async read(guest: GuestId): Promise<WorldDocker> {
    return (await readJson<WorldDocker>(this.file(guest))) ?? emptyDocker();
  }

  /** Read-modify-write of a running guest's daemon state. */
  private mutate<T>(guest: GuestId, fn: (d: WorldDocker) => T | Promise<T>): Promise<T> {
    return serialised(this.file(guest), async () => {
      const g = await this.hypervisor.getGuest(guest);
      if (!g) throw new NotFoundError(`guest ${guest}`);
      if (g.status !== 'running') throw new DriverError(DAEMON_DOWN);
      const docker = await this.read(guest);
      const result = await fn(docker);
      await writeJson(this.file(guest), docker);
      await this.options.onChange?.(guest, structuredClone(docker));
      return result;
    });
  }

  async listVolumes(guest: GuestId): Promise<VolumeSpec[]> {
    return listVolumes(await this.read(guest));
  }

  async getStack(guest: GuestId, name: string): Promise<StackObservation | undefined> {
    return observeStack(await this.read(guest), name);
  }

  async getContainer(guest: GuestId, name: string): Promise<ContainerObservation | undefined> {
    return observeContainer(await this.read(guest), name);
  }

  async createVolume(guest: GuestId, spec: VolumeSpec): Promise<void> {
    await this.mutate(guest, (docker) => {
      if (volumeNeeded(docker, spec)) createVolume(docker, spec);
    });
  }

  async deployStack(guest: GuestId, stack: StackDeploy): Promise<void> {
    const scanned = await scanStack(stack);
    await this.mutate(guest, (docker) => {
      checkDeploy(docker, stack, scanned);
      applyDeploy(docker, stack, scanned, this.now());
    });
  }

  async restartContainer(guest: GuestId, name: string): Promise<void> {
    await this.mutate(guest, (docker) => restartContainer(docker, name, this.now()));
  }

  /** For `phoenix lab status`: the emulated containers of a guest. */
  async containers(guest: GuestId): Promise<WorldContainer[]> {
    return Object.values((await this.read(guest)).containers);
  }
}
