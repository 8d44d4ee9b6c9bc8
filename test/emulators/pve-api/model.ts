import { createHash } from 'node:crypto';
import { formatUpid } from '../../../src/drivers/proxmox/api/upid.js';

/**
 * The in-memory cluster behind the emulated Proxmox VE API (see server.ts): nodes with a status, guests
 * with their config (and its SHA-1 digest, like Proxmox's config-file digest), snapshots, tasks with
 * UPIDs, status and log, and for VMs a guest-agent view of a flat in-memory filesystem.
 */

export type GuestType = 'lxc' | 'qemu';

export interface EmuNode {
  readonly name: string;
  status: 'online' | 'offline';
  maxmem: number;
  mem: number;
  /** Storage ids enabled and active on the node (GET /nodes/{node}/storage). */
  storages: string[];
  /** Linux bridges (GET /nodes/{node}/network?type=any_bridge). */
  bridges: string[];
}

export interface EmuSnapshot {
  readonly name: string;
  readonly snaptime: number;
  readonly description?: string;
  readonly parent?: string;
}

export interface EmuGuest {
  readonly vmid: number;
  readonly type: GuestType;
  node: string;
  status: 'running' | 'stopped';
  /** Config keys as Proxmox stores them (all values as text). */
  config: Record<string, string>;
  snapshots: EmuSnapshot[];
  /** VM filesystem as the guest agent sees it. */
  readonly files: Map<string, Buffer>;
  /** Owner and mode of VM files (numeric, as `stat -c '%u %g %a'` prints them); absent: 0 0 644. */
  readonly meta: Map<string, { uid: number; gid: number; mode: number }>;
  /** LXC raw `lxc.*` lines of the config file, in order (the API returns them as `lxc: [[key, value]]`). */
  rawLxc: Array<[string, string]>;
}

export interface EmuTask {
  readonly upid: string;
  readonly node: string;
  readonly type: string;
  readonly id: string;
  readonly user: string;
  readonly starttime: number;
  /** Status polls still answered "running". */
  pollsLeft: number;
  readonly exitstatus: string;
  readonly log: string[];
}

export interface AgentProcess {
  readonly pid: number;
  pollsLeft: number;
  readonly exitcode?: number;
  readonly signal?: number;
  readonly out: string;
  readonly err: string;
}

export interface TaskFault {
  /** e.g. "qmstart"; any when unset. */
  readonly type?: string;
  readonly vmid?: number;
  readonly exitstatus: string;
  readonly log: readonly string[];
}

/** The main section of the config file as Proxmox writes it: options sorted, then the raw lxc.* lines. */
export function configText(
  config: Record<string, string>,
  rawLxc: ReadonlyArray<[string, string]> = [],
): string {
  const options = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}\n`)
    .join('');
  return options + rawLxc.map(([k, v]) => `${k}: ${v}\n`).join('');
}

/** Proxmox's digest: SHA-1 of the config file text. */
export function configDigest(
  config: Record<string, string>,
  rawLxc: ReadonlyArray<[string, string]> = [],
): string {
  return createHash('sha1').update(configText(config, rawLxc)).digest('hex');
}

export const lockFile = (type: GuestType, vmid: number) =>
  type === 'lxc' ? `/run/lock/lxc/pve-config-${vmid}.lock` : `/var/lock/qemu-server/lock-${vmid}.conf`;

export const configFile = (node: string, type: GuestType, vmid: number) =>
  `nodes/${node}/${type === 'lxc' ? 'lxc' : 'qemu-server'}/${vmid}.conf`;

export const label = (type: GuestType) => (type === 'lxc' ? 'CT' : 'VM');

export class ClusterModel {
  readonly nodes = new Map<string, EmuNode>();
  readonly guests = new Map<number, EmuGuest>();
  readonly tasks = new Map<string, EmuTask>();
  readonly agentProcesses = new Map<string, AgentProcess>();
  /** Faults: remaining lock timeouts per VMID; failing tasks; a stale nextid answer. */
  readonly lockTimeouts = new Map<number, number>();
  readonly taskFaults: TaskFault[] = [];
  nextIdOverride: number | undefined;
  /** Status polls a task stays "running" (default 1), and exec-status polls before "exited". */
  taskPolls = 1;
  /** Pings a started VM's agent fails before it answers (it boots), per VMID. */
  readonly agentBootPings = new Map<number, number>();
  execPolls = 1;
  private pidCounter = 0x1000;

  /** Virtual size of a cloud image imported with `import-from` (noble's is 3.5 GiB). */
  importedImageBytes = 3.5 * 2 ** 30;
  private macCounter = 0;

  addNode(
    name: string,
    opts: {
      status?: 'online' | 'offline';
      maxmem?: number;
      mem?: number;
      storages?: string[];
      bridges?: string[];
    } = {},
  ): EmuNode {
    const node: EmuNode = {
      name,
      status: opts.status ?? 'online',
      maxmem: opts.maxmem ?? 64 * 2 ** 30,
      mem: opts.mem ?? 8 * 2 ** 30,
      storages: opts.storages ?? ['local', 'local-lvm'],
      bridges: opts.bridges ?? ['vmbr0'],
    };
    this.nodes.set(name, node);
    return node;
  }

  addGuest(g: {
    vmid: number;
    type: GuestType;
    node: string;
    status?: 'running' | 'stopped';
    config?: Record<string, string>;
    rawLxc?: Array<[string, string]>;
  }): EmuGuest {
    const guest: EmuGuest = {
      vmid: g.vmid,
      type: g.type,
      node: g.node,
      status: g.status ?? 'stopped',
      config: { ...(g.config ?? {}) },
      snapshots: [],
      files: new Map(),
      meta: new Map(),
      rawLxc: [...(g.rawLxc ?? [])],
    };
    this.guests.set(g.vmid, guest);
    return guest;
  }

  /** Simulates another writer changing a guest's config (its digest changes). */
  touchConfig(vmid: number, key: string, value: string): void {
    const g = this.guests.get(vmid);
    if (!g) throw new Error(`no guest ${vmid}`);
    g.config[key] = value;
  }

  /** A MAC from Proxmox's default prefix BC:24:11 (what it generates for a NIC declared without one). */
  newMac(): string {
    this.macCounter += 1;
    const n = this.macCounter;
    return `BC:24:11:${[(n >> 16) & 255, (n >> 8) & 255, n & 255].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':')}`;
  }

  nextFreeVmid(): number {
    let id = 100;
    while (this.guests.has(id)) id += 1;
    return id;
  }

  /** Consumes one injected lock timeout for the VMID, if any are left. */
  takeLockTimeout(vmid: number): boolean {
    const left = this.lockTimeouts.get(vmid) ?? 0;
    if (left <= 0) return false;
    this.lockTimeouts.set(vmid, left - 1);
    return true;
  }

  /**
   * Starts a task. `effect` runs now unless an injected fault fails the task (then nothing changes);
   * an effect that throws fails the task with its message, as a Proxmox worker's `die` does.
   */
  startTask(node: string, type: string, id: string, user: string, effect: () => string[] | void): string {
    const starttime = Math.floor(Date.now() / 1000);
    this.pidCounter += 1;
    const upid = formatUpid({
      node,
      pid: this.pidCounter,
      pstart: 0x100000 + this.pidCounter,
      starttime,
      type,
      id,
      user,
    });
    const faultAt = this.taskFaults.findIndex(
      (f) => (f.type === undefined || f.type === type) && (f.vmid === undefined || String(f.vmid) === id),
    );
    let exitstatus = 'OK';
    const log: string[] = [];
    if (faultAt >= 0) {
      const [fault] = this.taskFaults.splice(faultAt, 1);
      log.push(...fault!.log);
      exitstatus = fault!.exitstatus;
    } else {
      try {
        log.push(...(effect() ?? []));
      } catch (err) {
        exitstatus = err instanceof Error ? err.message : String(err);
      }
    }
    log.push(exitstatus === 'OK' ? 'TASK OK' : `TASK ERROR: ${exitstatus}`);
    this.tasks.set(upid, {
      upid,
      node,
      type,
      id,
      user,
      starttime,
      pollsLeft: this.taskPolls,
      exitstatus,
      log,
    });
    return upid;
  }

  startAgentProcess(
    vmid: number,
    result: { exitcode?: number; signal?: number; out?: string; err?: string },
  ): number {
    this.pidCounter += 1;
    const pid = this.pidCounter;
    this.agentProcesses.set(`${vmid}:${pid}`, {
      pid,
      pollsLeft: this.execPolls,
      ...(result.exitcode !== undefined ? { exitcode: result.exitcode } : {}),
      ...(result.signal !== undefined ? { signal: result.signal } : {}),
      out: result.out ?? '',
      err: result.err ?? '',
    });
    return pid;
  }
}
