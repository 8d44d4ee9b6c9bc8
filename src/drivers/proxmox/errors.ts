import { DriverError } from '../errors.js';
import { ConfigLocked } from './api/errors.js';

/**
 * The Proxmox hypervisor driver's own errors (the API and CLI layers have theirs). Typed so the engine
 * decides from the class and `retryable`, and so a message names the node and guest a person must look at.
 */

/** The guest's node is not online: its state can be neither observed nor changed. Never skipped silently. */
export class GuestNodeOffline extends DriverError {
  constructor(
    readonly vmid: number,
    readonly node: string,
    readonly nodeStatus: string,
  ) {
    super(
      `guest ${vmid} is on node ${node}, which is ${nodeStatus}: its state cannot be observed or changed until the node is back`,
      false,
      'pve-node-offline',
    );
    this.name = 'GuestNodeOffline';
  }
}

/** `listGuests` when some guests sit on offline nodes: every one of them named, with its node. */
export class GuestsUnreachable extends DriverError {
  constructor(readonly unreachable: ReadonlyArray<{ readonly vmid: number; readonly node: string }>) {
    const byNode = new Map<string, number[]>();
    for (const u of unreachable) (byNode.get(u.node) ?? byNode.set(u.node, []).get(u.node)!).push(u.vmid);
    const list = [...byNode].map(([node, ids]) => `node ${node} (guests ${ids.join(', ')})`).join('; ');
    super(`cannot observe every guest: offline ${list}`, false, 'pve-node-offline');
    this.name = 'GuestsUnreachable';
  }
}

/** A create named a VMID another guest already has (Phoenix's ids come from the configuration). */
export class VmidInUse extends DriverError {
  constructor(message: string) {
    super(message, false, 'pve-vmid-taken');
    this.name = 'VmidInUse';
  }
}

/** Something the driver needs (pct for LXC exec/files, a node runner for raw lxc lines) was not configured. */
export class TransportMissing extends DriverError {
  constructor(message: string) {
    super(message, false, 'pve-transport-missing');
    this.name = 'TransportMissing';
  }
}

/**
 * The client retries a config lock timeout itself (RetryPolicy); one that survives those retries is made
 * explicit here, still retryable, so the engine's own retry may try again later.
 */
export function explainLock(err: unknown, what: string): unknown {
  if (!(err instanceof ConfigLocked)) return err;
  return new DriverError(
    `${what}: the guest's config stayed locked by another task through every retry (${err.message}); check running tasks on the node (backup, migration)`,
    true,
    'pve-config-locked',
  );
}
