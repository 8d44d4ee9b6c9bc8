import type { GuestId } from '../../model/inventory.js';

/** The Docker side (through Portainer on Proxmox; emulated elsewhere): volumes, stacks, containers. */

export interface VolumeSpec {
  readonly name: string;
  readonly driver: 'local' | 'nfs';
  readonly server?: string;
  readonly export?: string;
  readonly options?: string;
}

export interface StackObservation {
  readonly name: string;
  /** sha256 of the deployed compose file and environment, as Phoenix deployed it. */
  readonly contentHash: string;
  readonly services: ReadonlyArray<{
    readonly name: string;
    readonly container: string;
    readonly running: boolean;
  }>;
}

export interface StackDeploy {
  readonly name: string;
  readonly compose: string;
  readonly env: Readonly<Record<string, string>>;
  readonly contentHash: string;
}

export interface ContainerObservation {
  readonly name: string;
  readonly running: boolean;
  readonly startedAt: string;
}

export interface ContainerDriver {
  readonly name: string;
  listVolumes(guest: GuestId): Promise<VolumeSpec[]>;
  getStack(guest: GuestId, name: string): Promise<StackObservation | undefined>;
  getContainer(guest: GuestId, name: string): Promise<ContainerObservation | undefined>;

  createVolume(guest: GuestId, spec: VolumeSpec): Promise<void>;
  deployStack(guest: GuestId, stack: StackDeploy): Promise<void>;
  restartContainer(guest: GuestId, name: string): Promise<void>;
}

export const CONTAINER_MUTATIONS = [
  'createVolume',
  'deployStack',
  'restartContainer',
] as const satisfies ReadonlyArray<keyof ContainerDriver>;
