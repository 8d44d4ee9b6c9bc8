import { createHash } from 'node:crypto';
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
import { scanCompose } from '../drivers/memory/compose-scan.js';
import { NoSuchContainer } from '../drivers/memory/containers.js';
import type { WorldContainer, WorldDocker } from '../drivers/memory/world.js';
import type { GuestId } from '../model/inventory.js';
import { readJson, writeJson } from './sandbox-fs.js';
import { serialised } from './sandbox-store.js';

/**
 * EMULATED Docker (as Portainer drives it) inside lab guests: no container ever runs. The daemon's state
 * is kept per guest in `<lab>/guests/<id>/docker.json`; the rules are the memory emulator's (the same
 * compose scan, so a missing external volume fails exactly like Docker), and changes need the guest to run.
 */

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const DAEMON_DOWN =
  'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';

export class LabContainers implements ContainerDriver {
  readonly name = 'lab-docker (emulated)';

  constructor(
    readonly guestsDir: string,
    private readonly hypervisor: Pick<HypervisorDriver, 'getGuest'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private file(guest: GuestId): string {
    return join(this.guestsDir, String(guest), 'docker.json');
  }

  private async read(guest: GuestId): Promise<WorldDocker> {
    return (await readJson<WorldDocker>(this.file(guest))) ?? { volumes: {}, stacks: {}, containers: {} };
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
      return result;
    });
  }

  async listVolumes(guest: GuestId): Promise<VolumeSpec[]> {
    const volumes = (await this.read(guest)).volumes;
    return Object.values(volumes)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((v) => ({ ...v }));
  }

  async getStack(guest: GuestId, name: string): Promise<StackObservation | undefined> {
    const docker = await this.read(guest);
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

  async getContainer(guest: GuestId, name: string): Promise<ContainerObservation | undefined> {
    const c = (await this.read(guest)).containers[name];
    return c && { name: c.name, running: c.running, startedAt: c.startedAt };
  }

  async createVolume(guest: GuestId, spec: VolumeSpec): Promise<void> {
    if (!VOLUME_NAME.test(spec.name)) {
      throw new DriverError(
        `create ${spec.name}: "${spec.name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
      );
    }
    await this.mutate(guest, (docker) => {
      const existing = docker.volumes[spec.name];
      if (existing) {
        if (existing.driver === spec.driver) return;
        throw new DriverError(
          `Error response from daemon: create ${spec.name}: driver '${existing.driver}' already has volume '${spec.name}': volume name must be unique`,
        );
      }
      docker.volumes[spec.name] = { ...spec };
    });
  }

  async deployStack(guest: GuestId, stack: StackDeploy): Promise<void> {
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
    await this.mutate(guest, (docker) => {
      const missing = scanned.volumes.find((v) => v.external && !docker.volumes[v.name]);
      if (missing) throw new DriverError(`external volume "${missing.name}" not found`);
      for (const service of scanned.services) {
        const holder = docker.containers[service.container];
        if (holder && holder.stack !== stack.name) {
          throw new DriverError(
            `Conflict. The container name "/${service.container}" is already in use by container "${createHash('sha256').update(service.container).digest('hex')}". You have to remove (or rename) that container to be able to reuse that name.`,
          );
        }
      }
      const startedAt = this.now().toISOString();
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
      docker.stacks[stack.name] = {
        name: stack.name,
        contentHash: stack.contentHash,
        services: scanned.services.map((s) => ({ name: s.name, container: s.container })),
      };
    });
  }

  async restartContainer(guest: GuestId, name: string): Promise<void> {
    await this.mutate(guest, (docker) => {
      const container = docker.containers[name];
      if (!container) throw new NoSuchContainer(name);
      container.running = true;
      container.startedAt = this.now().toISOString();
    });
  }

  /** For `phoenix lab status`: the emulated containers of a guest. */
  async containers(guest: GuestId): Promise<WorldContainer[]> {
    return Object.values((await this.read(guest)).containers);
  }
}
