import { DriverError, NotFoundError } from '../errors.js';
import type {
  ExecOptions,
  ExecResult,
  FileAttrs,
  FileRead,
  GuestCreate,
  GuestObservation,
  GuestSettings,
  HypervisorDriver,
} from '../hypervisor/types.js';
import type { GuestId, GuestRef, Inventory } from '../../model/inventory.js';
import type { PveApi } from './api/client.js';
import { TaskFailed } from './api/errors.js';
import * as pve from './api/resources.js';
import type { CallOptions, GuestAddress } from './api/resources.js';
import type { WaitOptions } from './api/tasks.js';
import type { Pct } from './cli/pct.js';
import type { CommandRunner } from './cli/runner.js';
import type { GuestLocation, GuestNodes } from './config/cluster.js';
import { addressOf, reachable, readCluster } from './cluster-view.js';
import { createFromInventory } from './create.js';
import { GuestsUnreachable, TransportMissing, explainLock } from './errors.js';
import { readFileVia, removeFileVia, renameFileVia, writeFileVia } from './files.js';
import { hostShell, lxcShell, vmShell } from './guest-shell.js';
import type { GuestShell } from './guest-shell.js';
import { mappingFromInventory } from './mapping-options.js';
import type { MappingOptions } from './mapping-options.js';
import { NodeLimiter } from './node-limit.js';
import { observeGuest } from './observe.js';
import { updateSettings } from './update.js';
import { afterVmStart } from './vm-boot.js';

/**
 * Proxmox VE as Phoenix's hypervisor: the REST API (`PveApi`, over HTTPS or pvesh) for guests and their
 * lifecycle, `pct` for what the API lacks for containers (exec, file push), the guest agent for VMs, and a
 * node runner for the node itself (raw lxc.* lines, bind-mount directories, host files and commands).
 *
 * Every call finds the guest through /cluster/resources first (clusters: never one assumed node; a guest
 * on an offline node is a GuestNodeOffline error naming the node). Mutating calls run within a per-node
 * concurrency limit. Asynchronous calls are awaited as tasks and their exit status checked (api/tasks.ts).
 * The API client retries config lock timeouts; one that persists is rethrown with an explanation.
 */

export interface ProxmoxHypervisorOptions {
  readonly api: PveApi;
  /** `pct` on the node(s) of the containers (exec and push are node-local); a function picks one per node. */
  readonly pct?: Pct | ((node: string) => Pct | undefined);
  /** Runs on a cluster node: raw lxc lines, bind-mount sources, and the 'host' target of exec and files. */
  readonly node?: CommandRunner;
  /** The desired model: createGuest and updateGuest map the declared guest, not just its settings. */
  readonly inventory: Inventory;
  /** Mutating calls in flight per Proxmox node; default 4. */
  readonly nodeConcurrency?: number;
  readonly signal?: AbortSignal;
  /** Overrides of what is derived from the hypervisor file (storage paths, image storage, bridge). */
  readonly mapping?: Partial<MappingOptions>;
  /** Task polling (tests poll fast); default the API layer's. */
  readonly tasks?: Omit<WaitOptions, 'signal'>;
  /** Seconds a clean shutdown may take before stopGuest forces the stop; default 60. */
  readonly shutdownTimeoutSeconds?: number;
  /** How long a started VM's guest agent may take to answer (default 180 s). */
  readonly agentTimeoutMs?: number;
}

const label = (loc: GuestLocation) => `${loc.kind === 'lxc' ? 'CT' : 'VM'} ${loc.vmid}`;

export class ProxmoxHypervisor implements HypervisorDriver {
  readonly name = 'proxmox';
  readonly limiter: NodeLimiter;
  private readonly api: PveApi;
  private readonly mapping: MappingOptions;
  private readonly call: CallOptions;
  /** VMIDs with a createGuest in flight in this process: taken synchronously, before the first await. */
  private readonly creating = new Set<GuestId>();

  constructor(private readonly options: ProxmoxHypervisorOptions) {
    this.api = options.api;
    this.limiter = new NodeLimiter(options.nodeConcurrency ?? 4);
    const derived = mappingFromInventory(options.inventory);
    this.mapping = {
      lxc: { ...derived.lxc, ...options.mapping?.lxc },
      qemu: { ...derived.qemu, ...options.mapping?.qemu },
    };
    this.call = { ...options.tasks, ...(options.signal ? { signal: options.signal } : {}) };
  }

  async listGuests(): Promise<GuestObservation[]> {
    const cluster = await this.cluster();
    if (cluster.unreachable.length) throw new GuestsUnreachable(cluster.unreachable);
    const all = [...cluster.guests.values()].sort((a, b) => a.vmid - b.vmid);
    return Promise.all(all.map((loc) => observeGuest(this.api, loc, this.call)));
  }

  async getGuest(id: GuestId): Promise<GuestObservation | undefined> {
    const cluster = await this.cluster();
    const conflict = cluster.conflicts.find((c) => c.vmid === id);
    if (conflict)
      throw new DriverError(
        `guest ${id} is listed on nodes ${conflict.nodes.join(' and ')} (a migration in progress?)`,
      );
    const loc = reachable(cluster, id);
    return loc && observeGuest(this.api, loc, this.call);
  }

  async createGuest(spec: GuestCreate): Promise<void> {
    if (this.creating.has(spec.id))
      throw new DriverError(
        `guest ${spec.id} is already being created by another call`,
        false,
        'pve-vmid-taken',
      );
    this.creating.add(spec.id);
    try {
      await createFromInventory(
        {
          api: this.api,
          inventory: this.options.inventory,
          mapping: this.mapping,
          ...(this.options.node ? { node: this.options.node } : {}),
          call: this.call,
          onNode: (node, fn) => this.limiter.run(node, fn),
        },
        spec,
        await this.cluster(),
      );
    } catch (err) {
      throw explainLock(err, `creating guest ${spec.id}`);
    } finally {
      this.creating.delete(spec.id);
    }
  }

  async updateGuest(id: GuestId, changes: Partial<GuestSettings>): Promise<void> {
    const g = this.options.inventory.guests.get(id);
    if (!g)
      throw new DriverError(`guest ${id} is not declared in the configuration; refusing to reconfigure it`);
    await this.mutate(id, 'updating', (addr) =>
      updateSettings(this.api, addr, g, changes, this.mapping, this.call),
    );
  }

  async startGuest(id: GuestId): Promise<void> {
    let started: GuestAddress | undefined;
    await this.mutate(id, 'starting', async (addr, loc) => {
      if (loc.status === 'running') return;
      if (loc.template) throw new DriverError(`you can't start a ${label(loc)} if it's a template`);
      await pve.startGuest(this.api, addr, this.call);
      started = addr;
    });
    // Outside the node slot: the agent's own calls take slots of their own.
    const vm = this.options.inventory.guests.get(id);
    if (started?.type === 'qemu' && vm?.kind === 'vm')
      await afterVmStart(this.api, started, vm, vmShell(this.api, started, this.call), {
        ...(this.options.agentTimeoutMs !== undefined ? { agentTimeoutMs: this.options.agentTimeoutMs } : {}),
        ...(this.options.tasks?.pollMs !== undefined ? { pollMs: this.options.tasks.pollMs } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
  }

  /** A clean shutdown, forced to a stop after the timeout; a guest that cannot shut down is stopped. */
  async stopGuest(id: GuestId): Promise<void> {
    await this.mutate(id, 'stopping', async (addr, loc) => {
      if (loc.status !== 'running') return;
      const timeout = this.options.shutdownTimeoutSeconds ?? 60;
      try {
        await pve.shutdownGuest(this.api, addr, { timeout, forceStop: true }, this.call);
      } catch (err) {
        if (!(err instanceof TaskFailed)) throw err;
        await pve.stopGuest(this.api, addr, this.call);
      }
    });
  }

  async deleteGuest(id: GuestId): Promise<void> {
    await this.mutate(id, 'destroying', async (addr, loc) => {
      if (loc.status === 'running') throw new DriverError(`${label(loc)} is running - destroy failed`);
      await pve.deleteGuest(this.api, addr, { purge: true, destroyUnreferencedDisks: true }, this.call);
    });
  }

  async snapshotGuest(id: GuestId, name: string): Promise<void> {
    await this.mutate(id, 'snapshotting', (addr) =>
      pve.snapshotGuest(this.api, addr, name, undefined, this.call),
    );
  }

  async markTemplate(id: GuestId): Promise<void> {
    await this.mutate(id, 'converting to a template', async (addr, loc) => {
      if (loc.template) throw new DriverError("you can't convert a template to a template");
      await pve.templateGuest(this.api, addr, this.call);
    });
  }

  async exec(target: GuestRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    if (argv.length === 0) throw new DriverError('exec needs a command (empty argv)');
    return this.viaShell(target, (shell) => shell.exec(argv, opts));
  }

  readFile(target: GuestRef, path: string): Promise<FileRead | undefined> {
    return this.viaShell(target, (shell) => readFileVia(shell, path), false);
  }
  writeFile(target: GuestRef, path: string, content: Uint8Array, attrs: FileAttrs): Promise<void> {
    return this.viaShell(target, (shell) => writeFileVia(shell, path, content, attrs));
  }
  removeFile(target: GuestRef, path: string): Promise<void> {
    return this.viaShell(target, (shell) => removeFileVia(shell, path));
  }
  renameFile(target: GuestRef, from: string, to: string): Promise<void> {
    return this.viaShell(target, (shell) => renameFileVia(shell, from, to));
  }

  private cluster(): Promise<GuestNodes> {
    return readCluster(this.api, this.options.signal);
  }

  /** Locates the guest (NotFoundError, GuestNodeOffline), then runs `fn` within its node's limit. */
  private async mutate(
    id: GuestId,
    doing: string,
    fn: (addr: GuestAddress, loc: GuestLocation) => Promise<unknown>,
  ): Promise<void> {
    const loc = reachable(await this.cluster(), id);
    if (!loc) throw new NotFoundError(`guest ${id}`);
    try {
      await this.limiter.run(loc.node, () => fn(addressOf(loc), loc));
    } catch (err) {
      throw explainLock(err, `${doing} ${label(loc)} on node ${loc.node}`);
    }
  }

  /** The shell of a target; mutating uses take a slot of the guest's node. */
  private async viaShell<T>(
    target: GuestRef,
    use: (shell: GuestShell) => Promise<T>,
    mutating = true,
  ): Promise<T> {
    if (target === 'host') {
      if (!this.options.node)
        throw new TransportMissing('commands and files on the host need a node runner (local or SSH)');
      return use(hostShell(this.options.node, this.options.signal));
    }
    const loc = reachable(await this.cluster(), target);
    if (!loc) throw new NotFoundError(`guest ${target}`);
    let shell: GuestShell;
    if (loc.kind === 'vm') {
      shell = vmShell(this.api, { node: loc.node, vmid: loc.vmid }, this.call);
    } else {
      const pct = typeof this.options.pct === 'function' ? this.options.pct(loc.node) : this.options.pct;
      if (!pct)
        throw new TransportMissing(
          `CT ${target} on node ${loc.node}: container exec and files need pct on that node (the REST API has neither)`,
        );
      shell = lxcShell(pct, loc.vmid, this.options.signal);
    }
    return mutating ? this.limiter.run(loc.node, () => use(shell)) : use(shell);
  }
}
