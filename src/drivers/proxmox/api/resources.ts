import type { PveApi, RequestOptions } from './client.js';
import { PveProtocolError, VmidTaken } from './errors.js';
import { seg } from './form.js';
import type { PveParamValue, PveParams } from './form.js';
import { parseClusterGuests, parseGuestConfig, parseNodes, parseSnapshots, parseVmid } from './parse.js';
import type { ClusterGuest, GuestConfig, PveGuestType, PveNode, SnapshotInfo } from './parse.js';
import { waitForTask } from './tasks.js';
import type { TaskResult, WaitOptions } from './tasks.js';
import { isUpid } from './upid.js';

/**
 * Typed calls for what the Proxmox hypervisor driver needs. Each guest call takes the node the guest
 * lives on (from `listClusterGuests`; never assume one node). Asynchronous calls wait for their task
 * (tasks.ts) and resolve to its result, or throw TaskFailed with the task log. Config writes require the
 * digest read with the config: a concurrent change is a ConcurrentChange error, never an overwrite.
 */

export interface GuestAddress {
  readonly node: string;
  readonly type: PveGuestType;
  readonly vmid: number;
}

export type CallOptions = WaitOptions & Pick<RequestOptions, 'retry'>;

const guestPath = (g: GuestAddress, leaf = '') => `/nodes/${seg(g.node)}/${g.type}/${seg(g.vmid)}${leaf}`;
const reqOpts = (o: CallOptions): RequestOptions => ({
  ...(o.signal ? { signal: o.signal } : {}),
  ...(o.retry !== undefined ? { retry: o.retry } : {}),
});

/** Calls a write that answers a UPID (waited for) or null (synchronous, e.g. an LXC template). */
async function runTask(
  client: PveApi,
  method: 'POST' | 'PUT' | 'DELETE',
  path: string,
  params: PveParams,
  opts: CallOptions,
): Promise<TaskResult | undefined> {
  const { data } = await client.request(method, path, params, reqOpts(opts));
  if (data === null || data === undefined || data === '') return undefined;
  if (!isUpid(data))
    throw new PveProtocolError(
      `${method} ${path}: expected a task id, got ${JSON.stringify(data).slice(0, 100)}`,
    );
  return waitForTask(client, data, opts);
}

/** Every guest of the cluster with its node, status, type and template flag. */
export async function listClusterGuests(client: PveApi, opts: CallOptions = {}): Promise<ClusterGuest[]> {
  return parseClusterGuests(await client.get('/cluster/resources', { type: 'vm' }, reqOpts(opts)));
}

export async function listNodes(client: PveApi, opts: CallOptions = {}): Promise<PveNode[]> {
  return parseNodes(await client.get('/nodes', undefined, reqOpts(opts)));
}

/** The config with its digest. `current: true` reads the applied config instead of the pending one (QEMU). */
export async function getGuestConfig(
  client: PveApi,
  g: GuestAddress,
  opts: CallOptions & { readonly current?: boolean } = {},
): Promise<GuestConfig> {
  const params = g.type === 'qemu' && opts.current ? { current: true } : undefined;
  return parseGuestConfig(await client.get(guestPath(g, '/config'), params, reqOpts(opts)));
}

export interface ConfigChange {
  /** Keys to set ("memory": 2048, "net0": "name=eth0,..."). */
  readonly set: Readonly<Record<string, PveParamValue>>;
  /** Keys to remove. */
  readonly delete?: readonly string[];
  /** The digest of the config the change was decided on. Required: no blind overwrites. */
  readonly digest: string;
}

const RESERVED_KEYS = new Set(['node', 'vmid', 'digest', 'delete']);

/** `PUT .../config` (synchronous for both types). Digest mismatch → ConcurrentChange. */
export async function updateGuestConfig(
  client: PveApi,
  g: GuestAddress,
  change: ConfigChange,
  opts: CallOptions = {},
): Promise<void> {
  for (const key of Object.keys(change.set)) {
    if (RESERVED_KEYS.has(key)) throw new TypeError(`config change may not set "${key}"`);
  }
  if (!/^[0-9a-f]{40}$/i.test(change.digest))
    throw new TypeError('config change needs the SHA-1 digest of the config it was based on');
  await client.put(
    guestPath(g, '/config'),
    {
      ...change.set,
      ...(change.delete && change.delete.length > 0 ? { delete: change.delete.join(',') } : {}),
      digest: change.digest,
    },
    reqOpts(opts),
  );
}

/**
 * `POST /nodes/{node}/lxc` (needs `ostemplate`) or `/nodes/{node}/qemu`. A taken VMID is VmidTaken.
 * `params` are the API's create parameters (hostname/name, memory, net0, ...), from the config mapping.
 */
export async function createGuest(
  client: PveApi,
  g: GuestAddress,
  params: Readonly<Record<string, PveParamValue>>,
  opts: CallOptions = {},
): Promise<TaskResult | undefined> {
  if (g.type === 'lxc' && typeof params.ostemplate !== 'string')
    throw new TypeError('an LXC create needs ostemplate');
  if ('node' in params || 'vmid' in params)
    throw new TypeError('node and vmid come from the address, not the params');
  return runTask(client, 'POST', `/nodes/${seg(g.node)}/${g.type}`, { ...params, vmid: g.vmid }, opts);
}

export interface CloneOptions {
  readonly newid: number;
  /** Clone from this snapshot. */
  readonly snapname?: string;
  readonly full?: boolean;
  /** Target node (the source must be on shared storage). */
  readonly target?: string;
  /** `hostname` for LXC, `name` for QEMU. */
  readonly name?: string;
  readonly storage?: string;
}

export async function cloneGuest(
  client: PveApi,
  source: GuestAddress,
  clone: CloneOptions,
  opts: CallOptions = {},
): Promise<TaskResult | undefined> {
  const { name, ...rest } = clone;
  return runTask(
    client,
    'POST',
    guestPath(source, '/clone'),
    { ...rest, ...(name !== undefined ? { [source.type === 'lxc' ? 'hostname' : 'name']: name } : {}) },
    opts,
  );
}

export const startGuest = (client: PveApi, g: GuestAddress, opts: CallOptions = {}) =>
  runTask(client, 'POST', guestPath(g, '/status/start'), {}, opts);

/** Hard stop (like pulling the plug). */
export const stopGuest = (client: PveApi, g: GuestAddress, opts: CallOptions = {}) =>
  runTask(client, 'POST', guestPath(g, '/status/stop'), {}, opts);

/** Clean shutdown; `forceStop` stops it when `timeout` seconds pass. */
export const shutdownGuest = (
  client: PveApi,
  g: GuestAddress,
  shutdown: { readonly timeout?: number; readonly forceStop?: boolean } = {},
  opts: CallOptions = {},
) => runTask(client, 'POST', guestPath(g, '/status/shutdown'), { ...shutdown }, opts);

export const deleteGuest = (
  client: PveApi,
  g: GuestAddress,
  del: { readonly purge?: boolean; readonly destroyUnreferencedDisks?: boolean } = {},
  opts: CallOptions = {},
) =>
  runTask(
    client,
    'DELETE',
    guestPath(g),
    { purge: del.purge, 'destroy-unreferenced-disks': del.destroyUnreferencedDisks },
    opts,
  );

export const snapshotGuest = (
  client: PveApi,
  g: GuestAddress,
  snapname: string,
  description?: string,
  opts: CallOptions = {},
) => runTask(client, 'POST', guestPath(g, '/snapshot'), { snapname, description }, opts);

export async function listSnapshots(
  client: PveApi,
  g: GuestAddress,
  opts: CallOptions = {},
): Promise<SnapshotInfo[]> {
  return parseSnapshots(await client.get(guestPath(g, '/snapshot'), undefined, reqOpts(opts)));
}

/** LXC answers null (synchronous), QEMU a task. */
export const templateGuest = (client: PveApi, g: GuestAddress, opts: CallOptions = {}) =>
  runTask(client, 'POST', guestPath(g, '/template'), {}, opts);

/** `PUT .../resize`: `size` "+2G" (grow by) or "32G" (absolute; shrinking is refused by Proxmox). */
export const resizeDisk = (
  client: PveApi,
  g: GuestAddress,
  resize: { readonly disk: string; readonly size: string; readonly digest?: string },
  opts: CallOptions = {},
) => {
  if (!/^\+?\d+(\.\d+)?[KMGT]?$/.test(resize.size)) throw new TypeError(`invalid disk size ${resize.size}`);
  return runTask(client, 'PUT', guestPath(g, '/resize'), { ...resize }, opts);
};

/**
 * `GET /cluster/nextid`: a HINT only — it reserves nothing, two callers get the same answer. Use
 * VmidAllocator (vmid.ts) to pick ids.
 */
export async function nextIdHint(client: PveApi, opts: CallOptions = {}): Promise<number> {
  return parseVmid(await client.get('/cluster/nextid', undefined, reqOpts(opts)));
}

/** `GET /cluster/nextid?vmid=N` asserts N is free at the time of the check (400 otherwise). */
export async function isVmidFree(client: PveApi, vmid: number, opts: CallOptions = {}): Promise<boolean> {
  try {
    await client.get('/cluster/nextid', { vmid }, reqOpts(opts));
    return true;
  } catch (err) {
    if (err instanceof VmidTaken) return false;
    throw err;
  }
}
