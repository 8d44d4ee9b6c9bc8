import type { Drivers } from '../index.js';
import type { FaultRule } from './calls.js';
import { MemoryContainers } from './containers.js';
import { MemoryHypervisor } from './hypervisor.js';
import { MemoryIssuer } from './issuer.js';
import { MemoryPortainer } from './portainer.js';
import type { Inventory } from '../../model/inventory.js';
import { portainerTopology } from '../../model/portainer.js';
import type { SecretSource } from '../secrets/types.js';
import { memoryDnsProbe } from './dns.js';
import { memoryHttpProbe } from './http.js';
import { memoryTlsProbe } from './tls.js';
import { MemoryWorld } from './world.js';

/**
 * The in-memory world and its three drivers, wired together: engine tests, the benchmark and
 * `phoenix --driver memory` (a simulated host for trying configurations) all start here.
 */

export { CallRecorder } from './calls.js';
export type { FaultRule, MemoryDriverOptions } from './calls.js';
export { MemoryContainers, NoSuchContainer } from './containers.js';
export { MemoryHypervisor } from './hypervisor.js';
export { MemoryIssuer } from './issuer.js';
export { MemoryPortainer } from './portainer.js';
export { MemoryWorld } from './world.js';
export type { WorldState } from './world.js';

export interface MemoryDriversOptions {
  /** Persist the world to this JSON file (loaded when present); in memory only when omitted. */
  readonly statePath?: string;
  /** Per call, for every driver (the benchmark uses 50). */
  readonly latencyMs?: number;
  /**
   * Injected failures. Method names do not overlap between the drivers, so one list serves all three;
   * each driver only consults the rules naming its own methods.
   */
  readonly faults?: FaultRule[];
  readonly onCall?: (method: string, args: unknown[]) => void;
  /** Clock for container start times and certificate validity. */
  readonly now?: () => Date;
  /** Where Portainer's server and agents are (without it, Portainer never answers). */
  readonly inventory?: Inventory;
  /** Default: stand-in values (the memory world protects nothing). */
  readonly secrets?: SecretSource;
}

/** The memory world is a simulation: its secrets are stand-ins that protect nothing. */
export const memorySecrets: SecretSource = {
  read: (name) => Promise.resolve(`memory-world-stand-in-${name}`),
};

export interface MemoryDrivers {
  readonly drivers: Drivers;
  readonly world: MemoryWorld;
  readonly hypervisor: MemoryHypervisor;
  readonly containers: MemoryContainers;
  readonly issuer: MemoryIssuer;
  readonly portainer: MemoryPortainer;
}

export function createMemoryDrivers(opts: MemoryDriversOptions = {}): MemoryDrivers {
  const world = MemoryWorld.open(opts.statePath, opts.now ? { now: opts.now } : {});
  // One shared list: a rule's remaining count is tracked per driver, and only one driver has its method.
  const shared = {
    ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
    faults: opts.faults ?? [],
    ...(opts.onCall ? { onCall: opts.onCall } : {}),
  };
  const hypervisor = new MemoryHypervisor(world, shared);
  const containers = new MemoryContainers(world, shared);
  const issuer = new MemoryIssuer(world, shared);
  const secrets = opts.secrets ?? memorySecrets;
  const topology = opts.inventory && portainerTopology(opts.inventory);
  const portainer = new MemoryPortainer(world, topology, secrets, shared);
  const drivers: Drivers = {
    hypervisor,
    containers,
    portainer,
    secrets,
    issuer: () => issuer,
    tls: memoryTlsProbe(world),
    dns: memoryDnsProbe(world),
    http: memoryHttpProbe(world),
  };
  return { drivers, world, hypervisor, containers, issuer, portainer };
}
