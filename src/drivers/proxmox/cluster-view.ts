import type { GuestId } from '../../model/inventory.js';
import type { PveApi } from './api/client.js';
import { PveProtocolError } from './api/errors.js';
import { seg } from './api/form.js';
import type { GuestAddress } from './api/resources.js';
import { guestNodes } from './config/cluster.js';
import type { ClusterResource, GuestLocation, GuestNodes, NodeInfo } from './config/cluster.js';
import { GuestNodeOffline } from './errors.js';

/**
 * Where guests live, read fresh for every question: `GET /cluster/resources` (no type filter, so the node
 * entries come with their status in the same answer). Never one assumed node, and a guest on a node that
 * is not online is an error naming the node rather than an absent guest (which would make `plan` propose
 * to create it).
 */

export async function readCluster(api: PveApi, signal?: AbortSignal): Promise<GuestNodes> {
  const data = await api.get('/cluster/resources', undefined, signal ? { signal } : {});
  if (!Array.isArray(data)) throw new PveProtocolError('/cluster/resources is not a list');
  const resources: ClusterResource[] = data
    .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null)
    .map((r) => ({
      type: String(r.type),
      ...(typeof r.id === 'string' ? { id: r.id } : {}),
      ...(typeof r.node === 'string' ? { node: r.node } : {}),
      ...(r.vmid !== undefined && Number.isInteger(Number(r.vmid)) ? { vmid: Number(r.vmid) } : {}),
      ...(typeof r.status === 'string' ? { status: r.status } : {}),
      ...(typeof r.name === 'string' ? { name: r.name } : {}),
      template: r.template === 1 || r.template === '1' || r.template === true,
    }));
  return guestNodes(resources);
}

export const addressOf = (loc: GuestLocation): GuestAddress => ({
  node: loc.node,
  type: loc.kind === 'lxc' ? 'lxc' : 'qemu',
  vmid: loc.vmid,
});

/** The guest's location; undefined when it does not exist; GuestNodeOffline when its node is not online. */
export function reachable(cluster: GuestNodes, id: GuestId): GuestLocation | undefined {
  const loc = cluster.guests.get(id);
  if (!loc) return undefined;
  if (!loc.nodeOnline) throw new GuestNodeOffline(id, loc.node, cluster.nodes.get(loc.node) ?? 'not listed');
  return loc;
}

/** Node facts for pickNode: memory from /nodes, enabled+active storages and bridges from each online node. */
export async function nodeInventory(api: PveApi, signal?: AbortSignal): Promise<NodeInfo[]> {
  const opts = signal ? { signal } : {};
  const nodes = await api.get('/nodes', undefined, opts);
  if (!Array.isArray(nodes)) throw new PveProtocolError('/nodes is not a list');
  return Promise.all(
    nodes.map(async (raw: Record<string, unknown>) => {
      const name = String(raw.node);
      const online = raw.status === 'online';
      if (!online) return { name, online, maxmem: 0, mem: 0, storages: [], bridges: [] };
      const [storages, bridges] = await Promise.all([
        api.get(`/nodes/${seg(name)}/storage`, { enabled: true }, opts),
        api.get(`/nodes/${seg(name)}/network`, { type: 'any_bridge' }, opts),
      ]);
      return {
        name,
        online,
        maxmem: Number(raw.maxmem ?? 0),
        mem: Number(raw.mem ?? 0),
        storages: listOf(storages)
          .filter((s) => s.active === undefined || s.active === 1 || s.active === '1')
          .map((s) => String(s.storage)),
        bridges: listOf(bridges).map((b) => String(b.iface)),
      } satisfies NodeInfo;
    }),
  );
}

function listOf(data: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(data)) throw new PveProtocolError('expected a list');
  return data.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
}
