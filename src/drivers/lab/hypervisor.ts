import { basename, join } from 'node:path';
import { labAddress } from '../../lab/address.js';
import {
  createSkeleton,
  ensureTraversable,
  readSpaceFile,
  removeSpaceFile,
  renameSpaceFile,
  writeSpaceFile,
} from '../../lab/sandbox-fs.js';
import type { FileSpace } from '../../lab/sandbox-fs.js';
import { serialised } from '../../lab/sandbox-store.js';
import { ensureNginxConf } from '../../lab/services/nginx.js';
import { Sandbox } from '../../lab/sandbox.js';
import type { Listen } from '../../lab/sandbox.js';
import { effectiveIdMap, IDENTITY } from '../../model/idmap.js';
import type { IdMap } from '../../model/idmap.js';
import type { GuestId, GuestRef } from '../../model/inventory.js';
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
import { lstat } from 'node:fs/promises';

/**
 * The lab's hypervisor: every guest is a Sandbox under `<labDir>/guests/<id>` (real files with shifted
 * ownership, real processes in user and mount namespaces, loopback addresses), with Proxmox's lifecycle
 * rules and messages. State lives on disk, so a later `phoenix` run sees the same guests, running or not.
 *
 * The host is not sandboxed: its files live under `<labDir>/host/rootfs` with identity ownership, and host
 * commands exist only as far as `commandHandler` emulates them (the lab's service manager, `pct`...).
 */

/** What the lab knows about a guest from the inventory. */
export interface LabGuestInfo {
  readonly unprivileged: boolean;
  /** The effective map (LxcGuest.idMap); default: Proxmox's map for `unprivileged`, without exceptions. */
  readonly idMap?: IdMap;
  /** The configured IPv4 address (10.0.0.153); the lab serves the guest on labAddress() of it. */
  readonly address?: string;
  /**
   * Ports below 1024 the guest serves on its address (80 and 443 for the gateway). A user namespace cannot
   * bind them in the host's network namespace, so host root binds them and hands them over: to services
   * through Sandbox.spawnService, and to `nginx` commands run through exec (nginx binds even for `-t`).
   */
  readonly privilegedPorts?: readonly number[];
}

/**
 * Consulted before anything runs: returns a result for the commands it emulates (`systemctl reload nginx`
 * mapped to the lab's service manager), undefined for the others.
 */
export type LabCommandHandler = (
  target: GuestRef,
  argv: readonly string[],
  opts?: ExecOptions,
) => Promise<ExecResult | undefined>;

export interface LabHypervisorOptions {
  readonly labDir: string;
  readonly guests?: (id: GuestId) => LabGuestInfo | undefined;
  readonly commandHandler?: LabCommandHandler;
}

export class LabHypervisor implements HypervisorDriver {
  readonly name = 'lab';
  readonly labDir: string;
  private readonly info: (id: GuestId) => LabGuestInfo | undefined;
  private readonly commandHandler: LabCommandHandler | undefined;

  constructor(options: LabHypervisorOptions) {
    this.labDir = options.labDir;
    this.info = options.guests ?? (() => undefined);
    this.commandHandler = options.commandHandler;
  }

  get guestsDir(): string {
    return join(this.labDir, 'guests');
  }

  /** The host's "/" in the lab: where files for target 'host' are kept. */
  get hostRootfs(): string {
    return join(this.labDir, 'host', 'rootfs');
  }

  /** The sandbox of a guest, for the lab's service manager (spawnService) and tests. */
  async sandbox(id: GuestId): Promise<Sandbox> {
    const sandbox = await Sandbox.open(this.guestsDir, id);
    if (!sandbox) throw new NotFoundError(`guest ${id}`);
    return sandbox;
  }

  /** The 127/8 address the guest is reached on, from the inventory or its configured ip; undefined for DHCP. */
  async address(id: GuestId): Promise<string | undefined> {
    const configured = this.info(id)?.address ?? (await this.sandbox(id)).settings.ip;
    return configured === undefined || configured === 'dhcp' ? undefined : labAddress(configured);
  }

  async listGuests(): Promise<GuestObservation[]> {
    return Promise.all((await Sandbox.list(this.guestsDir)).map((s) => s.observe()));
  }

  async getGuest(id: GuestId): Promise<GuestObservation | undefined> {
    return (await Sandbox.open(this.guestsDir, id))?.observe();
  }

  async createGuest(spec: GuestCreate): Promise<void> {
    // The lab directory is the lab's own: make it reachable for the shifted root of its guests.
    await ensureTraversable(this.labDir);
    await Sandbox.create(this.guestsDir, { ...spec, idMap: this.idMapFor(spec.id, spec) });
  }

  async updateGuest(id: GuestId, changes: Partial<GuestSettings>): Promise<void> {
    await (await this.sandbox(id)).update(changes);
  }

  async startGuest(id: GuestId): Promise<void> {
    const sandbox = await this.sandbox(id);
    // The inventory's current map applies from this boot on, like an edited lxc.idmap.
    const known = this.info(id);
    await ensureTraversable(this.labDir);
    await sandbox.start(known ? this.idMapFor(id, sandbox) : undefined);
  }

  async stopGuest(id: GuestId): Promise<void> {
    await (await this.sandbox(id)).stop();
  }

  async deleteGuest(id: GuestId): Promise<void> {
    await (await this.sandbox(id)).destroy();
  }

  async snapshotGuest(id: GuestId, name: string): Promise<void> {
    await (await this.sandbox(id)).snapshot(name);
  }

  async markTemplate(id: GuestId): Promise<void> {
    await (await this.sandbox(id)).markTemplate();
  }

  async exec(target: GuestRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    if (argv.length === 0) throw new DriverError('exec needs a command (empty argv)');
    if (target === 'host') {
      const handled = await this.commandHandler?.(target, argv, opts);
      if (handled) return handled;
      throw new DriverError(
        `the lab cannot run "${argv.join(' ')}" on the host: host commands are emulated and none handles this one`,
      );
    }
    const sandbox = await this.sandbox(target);
    // pct exec refuses a stopped container whatever the command, emulated or not.
    if ((await sandbox.status()) !== 'running') throw sandbox.notRunning();
    const handled = await this.commandHandler?.(target, argv, opts);
    if (handled) return handled;
    const testing = isNginxTest(argv);
    // The test reads the same nginx.conf the lab's service starts with, even before nginx first started.
    if (testing) await ensureNginxConf(sandbox);
    const check = testing ? await this.listeners(target) : [];
    return sandbox.exec(argv, { ...opts, check });
  }

  /** The guest's privileged listeners (its lab address and `privilegedPorts`), for its service manager. */
  async listeners(id: GuestId): Promise<Listen[]> {
    const address = await this.address(id);
    const ports = this.info(id)?.privilegedPorts ?? [];
    return address === undefined ? [] : ports.map((port) => ({ address, port }));
  }

  async readFile(target: GuestRef, path: string): Promise<FileRead | undefined> {
    if (target === 'host') return readSpaceFile(await this.hostSpace(), path);
    return (await this.sandbox(target)).readFile(path);
  }

  async writeFile(target: GuestRef, path: string, content: Uint8Array, attrs: FileAttrs): Promise<void> {
    if (target === 'host') return writeSpaceFile(await this.hostSpace(), path, content, attrs);
    return (await this.sandbox(target)).writeFile(path, content, attrs);
  }

  async removeFile(target: GuestRef, path: string): Promise<void> {
    if (target === 'host') return removeSpaceFile(await this.hostSpace(), path);
    return (await this.sandbox(target)).removeFile(path);
  }

  async renameFile(target: GuestRef, from: string, to: string): Promise<void> {
    if (target === 'host') return renameSpaceFile(await this.hostSpace(), from, to);
    return (await this.sandbox(target)).renameFile(from, to);
  }

  /** The inventory's map, else Proxmox's default for the guest's unprivileged flag; VMs are not shifted. */
  private idMapFor(id: GuestId, guest: { kind: 'lxc' | 'vm'; settings: GuestSettings }): IdMap {
    if (guest.kind === 'vm') return IDENTITY;
    const known = this.info(id);
    if (known?.idMap) return known.idMap;
    return effectiveIdMap(known?.unprivileged ?? guest.settings.unprivileged ?? false);
  }

  /** The lab host's file space, created on first use from the same skeleton as a privileged guest. */
  private hostSpace(): Promise<FileSpace> {
    const rootfs = this.hostRootfs;
    return serialised(rootfs, async () => {
      if (!(await lstat(rootfs).catch(() => undefined))) await createSkeleton(rootfs, IDENTITY, 'pve');
      return { rootfs, idMap: IDENTITY, label: 'host' };
    });
  }
}

/** `nginx -t`/`-T` (also combined, "-tq"): the commands that bind listeners only to test them. */
function isNginxTest(argv: readonly string[]): boolean {
  return (
    basename(argv[0] ?? '') === 'nginx' &&
    argv.slice(1).some((a) => /^-[a-zA-Z]*[tT]/.test(a) && !a.startsWith('--'))
  );
}
