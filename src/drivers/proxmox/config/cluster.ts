import { DriverError } from '../../errors.js';

/**
 * Cluster placement, pure: which VMID a new guest gets, which node it goes to, where existing guests live.
 * Phoenix picks VMIDs itself: `GET /cluster/nextid` only suggests an id and reserves nothing, so two creates
 * in one run could both be told the same id.
 */

export const MIN_VMID = 100;
export const MAX_VMID = 999_999_999;

/** The lowest id ≥ `from` that is neither used on the cluster nor reserved by this run. */
export function pickVmid(used: ReadonlySet<number>, reserved: ReadonlySet<number>, from = MIN_VMID): number {
  for (let id = Math.max(from, MIN_VMID); id <= MAX_VMID; id++) {
    if (!used.has(id) && !reserved.has(id)) return id;
  }
  throw new DriverError(`no free VMID from ${from} to ${MAX_VMID}`, false, 'vmid-exhausted');
}

/**
 * A run's reservations. `reserve` picks and records in one synchronous step, so concurrent creates (which
 * interleave only at awaits) can never be handed the same id; `release` gives one back after a failed create.
 */
export class VmidReservations {
  readonly #reserved = new Set<number>();

  reserve(used: ReadonlySet<number>, from = MIN_VMID): number {
    const id = pickVmid(used, this.#reserved, from);
    this.#reserved.add(id);
    return id;
  }

  release(id: number): void {
    this.#reserved.delete(id);
  }

  get reserved(): ReadonlySet<number> {
    return this.#reserved;
  }
}

export interface NodeInfo {
  readonly name: string;
  readonly online: boolean;
  /** Bytes, as /cluster/resources and /nodes report them. */
  readonly maxmem: number;
  readonly mem: number;
  /** Storage ids usable on this node (enabled, active; shared storages appear on every node). */
  readonly storages: readonly string[];
  readonly bridges: readonly string[];
}

export type NodeSelectionReason =
  'offline' | 'unknown-node' | 'missing-storage' | 'missing-bridge' | 'no-candidate';

export class NodeSelectionError extends DriverError {
  constructor(
    message: string,
    readonly reason: NodeSelectionReason,
    readonly node?: string,
  ) {
    super(message, false, `node-${reason}`);
    this.name = 'NodeSelectionError';
  }
}

/**
 * The node for a new guest. A declared node must exist, be online and have the storage and bridge; `auto`
 * (or nothing declared) takes the online node with the most free memory that has both (ties: by name).
 * Throws NodeSelectionError naming the node and what is missing.
 */
export function pickNode(
  nodes: readonly NodeInfo[],
  need: { readonly storage: string; readonly bridge: string },
  declared?: string,
): string {
  const lacks = (n: NodeInfo): string[] => [
    ...(n.storages.includes(need.storage) ? [] : [`storage ${need.storage}`]),
    ...(n.bridges.includes(need.bridge) ? [] : [`bridge ${need.bridge}`]),
  ];
  if (declared !== undefined && declared !== 'auto') {
    const n = nodes.find((x) => x.name === declared);
    if (!n)
      throw new NodeSelectionError(
        `node ${declared} is declared but the cluster has no such node (nodes: ${nodes.map((x) => x.name).join(', ') || 'none'})`,
        'unknown-node',
        declared,
      );
    if (!n.online)
      throw new NodeSelectionError(`node ${declared} is declared but offline`, 'offline', declared);
    if (!n.storages.includes(need.storage))
      throw new NodeSelectionError(
        `node ${declared} has no storage ${need.storage}`,
        'missing-storage',
        declared,
      );
    if (!n.bridges.includes(need.bridge))
      throw new NodeSelectionError(
        `node ${declared} has no bridge ${need.bridge}`,
        'missing-bridge',
        declared,
      );
    return n.name;
  }
  const candidates = nodes
    .filter((n) => n.online && lacks(n).length === 0)
    .sort((a, b) => b.maxmem - b.mem - (a.maxmem - a.mem) || a.name.localeCompare(b.name));
  if (candidates[0]) return candidates[0].name;
  const why = nodes.map((n) => `${n.name}: ${n.online ? `no ${lacks(n).join(' and no ')}` : 'offline'}`);
  throw new NodeSelectionError(
    `no online node has storage ${need.storage} and bridge ${need.bridge}${why.length ? ` (${why.join('; ')})` : ' (the cluster lists no nodes)'}`,
    'no-candidate',
  );
}

/** One entry of `GET /cluster/resources` (only the fields used here; others are ignored). */
export interface ClusterResource {
  readonly type: string;
  readonly id?: string;
  readonly node?: string;
  readonly vmid?: number;
  readonly status?: string;
  readonly name?: string;
  readonly template?: number | boolean;
}

export interface GuestLocation {
  readonly vmid: number;
  readonly kind: 'lxc' | 'vm';
  readonly node: string;
  /** False when the node is not online: the guest's state cannot be observed or changed now. */
  readonly nodeOnline: boolean;
  readonly status?: string;
  readonly name?: string;
  readonly template: boolean;
}

export interface GuestNodes {
  readonly guests: ReadonlyMap<number, GuestLocation>;
  /** Guests on nodes that are not online: reported, never dropped. */
  readonly unreachable: readonly GuestLocation[];
  /** Nodes and their state. */
  readonly nodes: ReadonlyMap<string, string>;
  /** A VMID listed twice (a cluster in an inconsistent state, mid-migration): both nodes named. */
  readonly conflicts: ReadonlyArray<{ readonly vmid: number; readonly nodes: readonly string[] }>;
}

export function guestNodes(resources: readonly ClusterResource[]): GuestNodes {
  const nodes = new Map<string, string>();
  for (const r of resources) if (r.type === 'node' && r.node) nodes.set(r.node, r.status ?? 'unknown');
  const guests = new Map<number, GuestLocation>();
  const conflicts: Array<{ vmid: number; nodes: string[] }> = [];
  for (const r of resources) {
    if (r.type !== 'lxc' && r.type !== 'qemu') continue;
    const vmid = r.vmid ?? Number(r.id?.split('/')[1]);
    if (!Number.isInteger(vmid) || !r.node) continue;
    const loc: GuestLocation = {
      vmid,
      kind: r.type === 'lxc' ? 'lxc' : 'vm',
      node: r.node,
      // A node missing from the list is not known to be online.
      nodeOnline: nodes.get(r.node) === 'online',
      status: r.status,
      name: r.name,
      template: r.template === 1 || r.template === true,
    };
    const prior = guests.get(vmid);
    if (prior) {
      const c = conflicts.find((x) => x.vmid === vmid);
      if (c) c.nodes.push(r.node);
      else conflicts.push({ vmid, nodes: [prior.node, r.node] });
      continue;
    }
    guests.set(vmid, loc);
  }
  return {
    guests,
    unreachable: [...guests.values()].filter((g) => !g.nodeOnline).sort((a, b) => a.vmid - b.vmid),
    nodes,
    conflicts,
  };
}

/** Ids in use cluster-wide (for pickVmid): every guest listed, whatever its node's state. */
export function usedVmids(resources: readonly ClusterResource[]): Set<number> {
  return new Set(guestNodes(resources).guests.keys());
}
