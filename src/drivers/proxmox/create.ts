import { DriverError, NotFoundError } from '../errors.js';
import type { GuestCreate } from '../hypervisor/types.js';
import type { Guest, Inventory } from '../../model/inventory.js';
import type { PveApi } from './api/client.js';
import { VmidTaken } from './api/errors.js';
import {
  cloneGuest,
  createGuest,
  getGuestConfig,
  listSnapshots,
  updateGuestConfig,
} from './api/resources.js';
import type { CallOptions, GuestAddress } from './api/resources.js';
import type { CommandRunner } from './cli/runner.js';
import { pickNode } from './config/cluster.js';
import type { GuestNodes } from './config/cluster.js';
import type { RawLine } from './config/idmap.js';
import { lxcCloneParams, lxcCreateParams } from './config/lxc.js';
import type { HostDir } from './config/lxc.js';
import { configFromApi, parseGuestSettings } from './config/parse.js';
import { qemuCloneParams, qemuCreateParams } from './config/qemu.js';
import type { ResizePlan } from './config/resize.js';
import { addressOf, nodeInventory, reachable } from './cluster-view.js';
import { growRootDisk } from './disk.js';
import { TransportMissing, VmidInUse } from './errors.js';
import type { MappingOptions } from './mapping-options.js';
import { ensureHostDirs, writeRawLines } from './node-config.js';

/**
 * createGuest, in the order that leaves the least behind when a step fails: everything that can be
 * checked is checked before the first mutation (the VMID is free, the source and its snapshot exist, a
 * shrink would be needed, raw lines need a node runner that is missing, the node has the storage and
 * bridge); then host directories, the create or clone task (awaited, exit status checked), the config
 * after a clone (PUT with the digest), raw lxc lines, and the root disk's growth. A failure after the
 * guest exists leaves it for the next run, which sees it and converges it through updateGuest.
 */

export interface CreateContext {
  readonly api: PveApi;
  readonly inventory: Inventory;
  readonly mapping: MappingOptions;
  readonly node?: CommandRunner;
  readonly call: CallOptions;
  /** Runs a mutating call within the per-node limit. */
  readonly onNode: <T>(node: string, fn: () => Promise<T>) => Promise<T>;
}

interface Prepared {
  readonly node: string;
  /** Issues the create or clone request; resolves once its task ended OK. */
  readonly issue: () => Promise<unknown>;
  /** Options to PUT after a clone (a create carries them already). */
  readonly config?: Record<string, string>;
  readonly rawLines?: readonly RawLine[];
  readonly hostDirs: readonly HostDir[];
}

const label = (g: Guest) => `${g.kind === 'lxc' ? 'CT' : 'VM'} ${g.id}`;

export async function createFromInventory(ctx: CreateContext, spec: GuestCreate, cluster: GuestNodes) {
  const g = ctx.inventory.guests.get(spec.id);
  if (!g)
    throw new DriverError(`guest ${spec.id} is not declared in the configuration; nothing to create it from`);
  if (g.kind !== spec.kind)
    throw new DriverError(`guest ${spec.id} is declared as ${g.kind}, not ${spec.kind}`);
  const taken = cluster.guests.get(spec.id);
  if (taken) {
    throw new VmidInUse(
      `cannot create ${label(g)}: VMID ${spec.id} is taken by ${taken.kind === 'lxc' ? 'CT' : 'VM'} ${spec.id}${taken.name ? ` "${taken.name}"` : ''} on node ${taken.node}; Phoenix's ids come from the configuration, so change the id there or remove that guest`,
    );
  }
  const prepared = spec.cloneFrom
    ? await prepareClone(ctx, g, spec, cluster)
    : await prepareCreate(ctx, g, spec);
  if (prepared.rawLines?.length && !ctx.node)
    throw new TransportMissing(
      `${label(g)} needs raw lxc lines (${[...new Set(prepared.rawLines.map((l) => l.key))].join(', ')}) in its config file, which the API cannot write: configure a node runner (local or SSH)`,
    );
  if (prepared.hostDirs.length && !ctx.node)
    throw new TransportMissing(
      `${label(g)} bind-mounts host directories (${prepared.hostDirs.map((d) => d.path).join(', ')}) that must exist on the node: configure a node runner`,
    );
  const addr: GuestAddress = { node: prepared.node, type: g.kind === 'lxc' ? 'lxc' : 'qemu', vmid: g.id };
  if (ctx.node && prepared.hostDirs.length) await ensureHostDirs(ctx.node, prepared.hostDirs);
  try {
    await prepared.issue();
  } catch (err) {
    // Another process took the id between our check and the create.
    if (err instanceof VmidTaken)
      throw new VmidInUse(`cannot create ${label(g)}: VMID ${g.id} was taken meanwhile (${err.message})`);
    throw err;
  }
  await ctx.onNode(addr.node, async () => {
    if (prepared.config) {
      const conf = await getGuestConfig(ctx.api, addr, ctx.call);
      await updateGuestConfig(ctx.api, addr, { set: prepared.config, digest: conf.digest }, ctx.call);
    }
    if (ctx.node && prepared.rawLines) await writeRawLines(ctx.node, addr.node, g.id, prepared.rawLines);
    await growRootDisk(ctx.api, addr, g.kind, g.resources.diskGb, ctx.call);
  });
}

async function prepareCreate(ctx: CreateContext, g: Guest, spec: GuestCreate): Promise<Prepared> {
  const storage = g.resources.storage;
  const bridge =
    g.kind === 'lxc' ? g.config.network_config.bridge : (g.config.network_bridge ?? ctx.mapping.qemu.bridge);
  if (storage === undefined || bridge === undefined)
    throw new DriverError(
      `${label(g)} declares no ${storage === undefined ? 'storage' : 'bridge'}; cannot place it on a node`,
    );
  const node = pickNode(
    await nodeInventory(ctx.api, ctx.call.signal),
    { storage, bridge },
    spec.node ?? g.node,
  );
  const addr: GuestAddress = { node, type: g.kind === 'lxc' ? 'lxc' : 'qemu', vmid: g.id };
  if (g.kind === 'lxc') {
    const plan = lxcCreateParams(g, {
      ...ctx.mapping.lxc,
      ...(spec.template !== undefined && g.resources.template === undefined
        ? { template: spec.template }
        : {}),
    });
    const { vmid: _vmid, ...params } = plan.params;
    return {
      node,
      issue: () => ctx.onNode(node, () => createGuest(ctx.api, addr, params, ctx.call)),
      rawLines: plan.rawLines,
      hostDirs: plan.hostDirs,
    };
  }
  const plan = qemuCreateParams(g, ctx.mapping.qemu);
  const { vmid: _vmid, ...params } = plan.params;
  return {
    node,
    issue: () => ctx.onNode(node, () => createGuest(ctx.api, addr, params, ctx.call)),
    hostDirs: [],
  };
}

async function prepareClone(
  ctx: CreateContext,
  g: Guest,
  spec: GuestCreate,
  cluster: GuestNodes,
): Promise<Prepared> {
  const from = spec.cloneFrom!;
  const source = ctx.inventory.guests.get(from.id);
  if (!source)
    throw new DriverError(`clone source ${from.id} of ${label(g)} is not declared in the configuration`);
  if (source.kind !== g.kind) throw new DriverError(`cannot clone ${label(source)} into ${label(g)}`);
  const loc = reachable(cluster, from.id);
  if (!loc) throw new NotFoundError(`clone source guest ${from.id}`);
  const srcAddr = addressOf(loc);
  const [conf, snapshots] = await Promise.all([
    getGuestConfig(ctx.api, srcAddr, ctx.call),
    from.snapshot !== undefined ? listSnapshots(ctx.api, srcAddr, ctx.call) : Promise.resolve([]),
  ]);
  if (from.snapshot !== undefined && !snapshots.some((s) => s.name === from.snapshot))
    throw new DriverError(
      `cannot clone ${label(g)}: snapshot '${from.snapshot}' of guest ${from.id} does not exist`,
    );
  const sourceDiskGb = parseGuestSettings(g.kind, configFromApi(conf.values)).diskGb;
  const declared = spec.node ?? g.node;
  // A clone is made on the source's node; another declared node is the clone's target (shared storage).
  const target =
    declared !== undefined && declared !== 'auto' && declared !== loc.node ? declared : undefined;
  const common = { sourceIsTemplate: loc.template, ...(sourceDiskGb !== undefined ? { sourceDiskGb } : {}) };
  let clone: Record<string, string>;
  let config: Record<string, string>;
  let resize: ResizePlan;
  let rawLines: readonly RawLine[] | undefined;
  let hostDirs: readonly HostDir[] = [];
  if (g.kind === 'lxc' && source.kind === 'lxc') {
    const plan = lxcCloneParams(g, source, { ...ctx.mapping.lxc, ...common });
    ({ clone, config, resize, rawLines, hostDirs } = plan);
    // A clone inherits its source's lxc.* lines: they are rewritten even when none are declared.
    const inherited = Array.isArray(conf.values.lxc) && conf.values.lxc.length > 0;
    if (!rawLines.length && !inherited) rawLines = undefined;
  } else if (g.kind === 'vm' && source.kind === 'vm') {
    ({ clone, config, resize } = qemuCloneParams(g, source, { ...ctx.mapping.qemu, ...common }));
  } else throw new DriverError(`cannot clone ${label(source)} into ${label(g)}`);
  if (resize.action === 'refuse')
    throw new DriverError(`cannot clone ${label(g)} from ${from.id}: ${resize.reason}`);
  const name = clone.hostname ?? clone.name;
  return {
    node: target ?? loc.node,
    issue: () =>
      ctx.onNode(loc.node, () =>
        cloneGuest(
          ctx.api,
          srcAddr,
          {
            newid: g.id,
            full: clone.full === '1',
            ...(from.snapshot !== undefined ? { snapname: from.snapshot } : {}),
            ...(name !== undefined ? { name } : {}),
            ...(clone.storage !== undefined ? { storage: clone.storage } : {}),
            ...(target !== undefined ? { target } : {}),
          },
          ctx.call,
        ),
      ),
    config,
    ...(rawLines ? { rawLines } : {}),
    hostDirs,
  };
}
