import type { StackDeploy, StackObservation, VolumeSpec } from '../containers/types.js';
import { DriverError } from '../errors.js';

/**
 * What the resources need of Portainer, by environment NAME (Portainer's ids are its own business): the
 * server's status, the administrator, agent environments, and Docker volumes and stacks deployed through an
 * environment. Implemented over the HTTP API (api-driver.ts: the lab's emulator and a real server) and in
 * memory (drivers/memory/portainer.ts). Credentials live inside the implementation and are never returned.
 */

export type ServerStatus =
  | { readonly answering: true; readonly version: string }
  | { readonly answering: false; readonly reason: string };

export interface AgentEnvironment {
  readonly name: string;
  /** Address and port the server reaches the agent on (tcp://host:port). */
  readonly host: string;
  readonly port: number;
}

export interface EnvironmentObservation {
  readonly name: string;
  readonly url: string;
  /** Differences from the wanted agent environment, one reason each (empty: as wanted). */
  readonly drift: readonly string[];
}

/** Where a stack runs: a standalone Docker host, or a swarm with placement constraints. */
export interface StackPlacement {
  readonly mode: 'compose' | 'swarm';
  /** Swarm only: `node.labels.x==y`-style constraints every service and volume follows. */
  readonly constraints?: readonly string[];
}

export interface PortainerDriver {
  readonly name: string;
  status(): Promise<ServerStatus>;
  adminExists(): Promise<boolean>;
  /** Creates the administrator (credentials from the configured secret) when none exists. */
  initAdmin(): Promise<'created' | 'existed'>;
  /** Found by name; `agent` given: drift from that agent environment is reported. */
  getEnvironment(name: string, agent?: AgentEnvironment): Promise<EnvironmentObservation | undefined>;
  /** Registers the agent environment, or finds it by name; never a second one. */
  ensureEnvironment(wanted: AgentEnvironment): Promise<void>;

  listVolumes(environment: string, placement?: StackPlacement): Promise<VolumeSpec[]>;
  createVolume(environment: string, spec: VolumeSpec, placement?: StackPlacement): Promise<void>;
  /** contentHash is computed from the file and environment Portainer stores, as `stackContentHash` does. */
  getStack(environment: string, name: string): Promise<StackObservation | undefined>;
  deployStack(environment: string, stack: StackDeploy, placement?: StackPlacement): Promise<void>;
}

export const PORTAINER_MUTATIONS = [
  'initAdmin',
  'ensureEnvironment',
  'createVolume',
  'deployStack',
] as const satisfies ReadonlyArray<keyof PortainerDriver>;

/**
 * Portainer cannot answer this yet: the server does not answer, has no administrator, or the environment is
 * not registered. A read that meets it sees "nothing there yet"; the plan says what will make it ready.
 */
export class PortainerNotReady extends DriverError {
  constructor(readonly why: string) {
    super(why, false, 'portainer-not-ready');
    this.name = 'PortainerNotReady';
  }
}
