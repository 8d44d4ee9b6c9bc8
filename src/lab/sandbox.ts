import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError, NotFoundError } from '../drivers/errors.js';
import type {
  ExecResult,
  FileAttrs,
  FileRead,
  GuestCreate,
  GuestKind,
  GuestObservation,
  GuestSettings,
  GuestStatus,
} from '../drivers/hypervisor/types.js';
import type { IdMap } from '../model/idmap.js';
import type { GuestId } from '../model/inventory.js';
import { boot, currentBoot, halt, processesOf } from './sandbox-boot.js';
import type { HaltReport } from './sandbox-boot.js';
import {
  createSkeleton,
  ensureTraversable,
  mountsBelow,
  readSpaceFile,
  removeSpaceFile,
  renameSpaceFile,
  writeSpaceFile,
} from './sandbox-fs.js';
import type { FileSpace } from './sandbox-fs.js';
import { boundDirOf, checkGuestPath } from './sandbox-paths.js';
import { isAlive, requireTools, runChecked, terminate } from './sandbox-proc.js';
import type { Termination } from './sandbox-proc.js';
import { execInside, startService } from './sandbox-service.js';
import type { Inside, SandboxExecOptions, ServiceOptions } from './sandbox-service.js';
import { readMeta, readRun, serialised, writeMeta, writeRun } from './sandbox-store.js';
import type { RunState, SandboxMeta, ServiceRecord } from './sandbox-store.js';

export { sandboxUnsupported } from './sandbox-proc.js';
export type { Listen } from './sandbox-argv.js';
export type { ServiceRecord } from './sandbox-store.js';
export type { HaltReport } from './sandbox-boot.js';
export type { SandboxExecOptions, ServiceOptions } from './sandbox-service.js';

/**
 * A lab guest: a real directory tree as its root filesystem (files carry shifted host ids, exactly like an
 * unprivileged container's), a holder process that owns a user namespace with the guest's id map and a
 * mount namespace in which the host's /usr (read-only), /dev and /proc are bound into the rootfs, and the
 * commands and services run chrooted inside those namespaces. The network namespace is the host's, so
 * services listen on the guest's 127/8 address; ports below 1024 are bound by host root and inherited.
 * Lifecycle rules and messages are pct's/qm's, the same as the memory emulator's.
 */

const NODE = 'pve';
/** Proxmox's configid format, used for snapshot names. */
const SNAPSHOT_NAME = /^[A-Za-z][A-Za-z0-9_-]{1,39}$/;

export const kindLabel = (kind: GuestKind) => (kind === 'lxc' ? 'CT' : 'VM');

export interface SandboxCreate extends GuestCreate {
  /** The id map the guest runs with (IDENTITY for privileged containers and VMs). */
  readonly idMap: IdMap;
}

export class Sandbox {
  private constructor(
    readonly guestsDir: string,
    private meta: SandboxMeta,
  ) {}

  /** The guest with this id, or undefined when it does not exist. */
  static async open(guestsDir: string, id: GuestId): Promise<Sandbox | undefined> {
    const meta = await readMeta(join(guestsDir, String(id)));
    return meta && new Sandbox(guestsDir, meta);
  }

  static async list(guestsDir: string): Promise<Sandbox[]> {
    let names: string[];
    try {
      names = await readdir(guestsDir);
    } catch {
      return [];
    }
    const ids = names.filter((n) => /^\d+$/.test(n)).map(Number);
    const found = await Promise.all(ids.sort((a, b) => a - b).map((id) => Sandbox.open(guestsDir, id)));
    return found.filter((s): s is Sandbox => s !== undefined);
  }

  /**
   * Creates a stopped guest from the skeleton, or as a clone: a copy of the source's root filesystem (or of
   * one of its snapshots) that keeps every owner, mode and link. Built aside and renamed into place, so a
   * failed create leaves nothing behind.
   */
  static create(guestsDir: string, spec: SandboxCreate): Promise<Sandbox> {
    return serialised(join(guestsDir, String(spec.id)), async () => {
      const existing = await Sandbox.open(guestsDir, spec.id);
      if (existing) {
        throw new DriverError(
          `unable to create ${kindLabel(spec.kind)} ${spec.id} - ${kindLabel(existing.kind)} ${spec.id} already exists on node '${existing.meta.node ?? NODE}'`,
        );
      }
      let source: string | undefined;
      let origin = spec.template === undefined ? undefined : `template:${spec.template}`;
      if (spec.cloneFrom) {
        const from = await Sandbox.open(guestsDir, spec.cloneFrom.id);
        if (!from) throw new NotFoundError(`source guest ${spec.cloneFrom.id}`);
        if (from.kind !== spec.kind) {
          throw new DriverError(
            `cannot clone ${kindLabel(from.kind)} ${from.id} into a ${kindLabel(spec.kind)}`,
          );
        }
        const snap = spec.cloneFrom.snapshot;
        if (snap !== undefined && !from.meta.snapshots.includes(snap)) {
          throw new DriverError(`snapshot '${snap}' does not exist`);
        }
        source = snap === undefined ? from.rootfs : from.snapshotRootfs(snap);
        origin = `clone:${from.id}${snap === undefined ? '' : `@${snap}`}`;
      }
      await ensureTraversable(guestsDir);
      const staging = join(guestsDir, `.${spec.id}.creating-${randomBytes(4).toString('hex')}`);
      const meta: SandboxMeta = {
        format: 1,
        id: spec.id,
        kind: spec.kind,
        template: false,
        settings: structuredClone(spec.settings),
        snapshots: [],
        ...(spec.node === undefined ? {} : { node: spec.node }),
        ...(origin === undefined ? {} : { origin }),
        idMap: spec.idMap,
      };
      try {
        await mkdir(staging, { mode: 0o711 });
        if (source === undefined)
          await createSkeleton(join(staging, 'rootfs'), spec.idMap, spec.settings.name);
        else await copyTree(source, join(staging, 'rootfs'));
        await writeMeta(staging, meta);
        await rename(staging, join(guestsDir, String(spec.id)));
      } catch (e) {
        await rm(staging, { recursive: true, force: true });
        throw e;
      }
      return new Sandbox(guestsDir, meta);
    });
  }

  get id(): GuestId {
    return this.meta.id;
  }
  get kind(): GuestKind {
    return this.meta.kind;
  }
  get template(): boolean {
    return this.meta.template;
  }
  get settings(): GuestSettings {
    return this.meta.settings;
  }
  get idMap(): IdMap {
    return this.meta.idMap;
  }
  /** "CT 101" / "VM 1001", as Proxmox names the guest in its messages. */
  get label(): string {
    return `${kindLabel(this.kind)} ${this.id}`;
  }
  get dir(): string {
    return join(this.guestsDir, String(this.id));
  }
  /** The guest's "/" on the host. Bound directories (/usr, /dev, /proc...) are empty in this view. */
  get rootfs(): string {
    return join(this.dir, 'rootfs');
  }
  snapshotRootfs(name: string): string {
    return join(this.dir, 'snapshots', name, 'rootfs');
  }

  private get space(): FileSpace {
    return { rootfs: this.rootfs, idMap: this.meta.idMap, label: this.label };
  }

  private get inside(): Inside {
    return { rootfs: this.rootfs, space: this.space, label: this.label };
  }

  private running(): Promise<RunState | undefined> {
    return currentBoot(this.dir);
  }

  async status(): Promise<GuestStatus> {
    return (await this.running()) ? 'running' : 'stopped';
  }

  async observe(): Promise<GuestObservation> {
    return {
      id: this.id,
      kind: this.kind,
      status: await this.status(),
      template: this.meta.template,
      settings: structuredClone(this.meta.settings),
      snapshots: [...this.meta.snapshots],
      ...(this.meta.node === undefined ? {} : { node: this.meta.node }),
    };
  }

  notRunning(): DriverError {
    return new DriverError(`${this.label} not running`);
  }

  private async requireRunning(): Promise<RunState> {
    const state = await this.running();
    if (!state) throw this.notRunning();
    return state;
  }

  private async saveMeta(change: Partial<SandboxMeta>): Promise<void> {
    const next = { ...this.meta, ...change };
    await writeMeta(this.dir, next);
    this.meta = next;
  }

  /** pct set / qm set: unprivileged is fixed at creation and disks only grow. */
  update(changes: Partial<GuestSettings>): Promise<void> {
    return serialised(this.dir, async () => {
      const current = this.meta.settings;
      if (changes.unprivileged !== undefined && changes.unprivileged !== current.unprivileged) {
        throw new DriverError("unable to modify read-only option: 'unprivileged'");
      }
      if (changes.diskGb !== undefined && current.diskGb !== undefined && changes.diskGb < current.diskGb) {
        throw new DriverError('unable to shrink disk size');
      }
      await this.saveMeta({ settings: { ...current, ...structuredClone(changes) } });
    });
  }

  /**
   * Boots the guest: a holder in new user and mount namespaces, the id map written by host root, then the
   * host's system trees bound into the rootfs inside that mount namespace only. Idempotent. `idMap`, when
   * given, replaces the configured map first (like editing lxc.idmap before a start).
   */
  start(idMap?: IdMap): Promise<void> {
    return serialised(this.dir, async () => {
      if (this.meta.template) {
        throw new DriverError(`you can't start a ${kindLabel(this.kind)} if it's a template`);
      }
      if (await this.running()) return;
      // Leftovers of a boot whose holder died (killed from outside, host crash): never run two boots.
      await this.halt();
      if (idMap !== undefined && JSON.stringify(idMap) !== JSON.stringify(this.meta.idMap)) {
        await this.saveMeta({ idMap });
      }
      await ensureTraversable(this.dir);
      await boot({ dir: this.dir, rootfs: this.rootfs, idMap: this.meta.idMap, label: this.label });
    });
  }

  /** pct stop / qm stop: stopping a stopped container fails like pct; a stopped VM stops quietly like qm. */
  async stop(graceMs?: number): Promise<HaltReport> {
    if (!(await this.running())) {
      if (this.kind === 'lxc') throw this.notRunning();
      return { terminated: [], killed: [] };
    }
    return serialised(this.dir, () => this.halt(graceMs));
  }

  /**
   * Ends this boot whatever its state, and never fails because it is already stopped (test teardown, crash
   * recovery): tracked services get SIGTERM, then SIGKILL after `graceMs`; whatever else still runs in the
   * sandbox's mount namespace (children a service left, commands whose caller died) follows; the holder
   * goes last, and the namespaces and their mounts go with it.
   */
  halt(graceMs = 5000): Promise<HaltReport> {
    return halt(this.dir, graceMs);
  }

  /** pct destroy: refused while running. */
  destroy(): Promise<void> {
    return serialised(this.dir, async () => {
      if (await this.running()) throw new DriverError(`${this.label} is running - destroy failed`);
      await this.halt();
      const mounted = await mountsBelow(this.dir);
      if (mounted.length > 0) {
        throw new DriverError(`${this.label}: refusing to delete across host mounts: ${mounted.join(', ')}`);
      }
      await rm(this.dir, { recursive: true, force: true });
    });
  }

  /** pct snapshot: a full copy of the root filesystem that keeps owners and modes. */
  snapshot(name: string): Promise<void> {
    return serialised(this.dir, async () => {
      if (!SNAPSHOT_NAME.test(name)) {
        throw new DriverError(`invalid format - invalid configuration ID '${name}'`);
      }
      if (this.meta.snapshots.includes(name)) throw new DriverError(`snapshot name '${name}' already used`);
      const dir = join(this.dir, 'snapshots', name);
      await rm(dir, { recursive: true, force: true }); // a copy a crash left half-done
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await copyTree(this.rootfs, this.snapshotRootfs(name));
      await this.saveMeta({ snapshots: [...this.meta.snapshots, name] });
    });
  }

  markTemplate(): Promise<void> {
    return serialised(this.dir, async () => {
      const kind = kindLabel(this.kind);
      if (this.meta.template) throw new DriverError("you can't convert a template to a template");
      if (await this.running()) {
        throw new DriverError(`you can't convert a ${kind} to template if the ${kind} is running`);
      }
      await this.saveMeta({ template: true });
    });
  }

  /** Runs an argv inside the sandbox as a guest user (default root) and waits for it. */
  async exec(argv: readonly string[], opts: SandboxExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new DriverError('exec needs a command (empty argv)');
    return execInside(this.inside, await this.requireRunning(), argv, opts);
  }

  /**
   * Starts a long-running service inside the sandbox and returns its pid. The argv must stay in the
   * foreground, as a systemd Type=simple unit does. Sockets in `listen` are created by host root, so a
   * service in the user namespace can serve ports below 1024. Fails when the service does not survive
   * `settleMs`. Every pid is recorded in run.json, so stop() (from any later process) ends it.
   */
  spawnService(argv: readonly string[], opts: ServiceOptions): Promise<number> {
    return serialised(this.dir, async () => {
      const state = await this.requireRunning();
      const record = await startService(this.inside, state, argv, opts);
      await writeRun(this.dir, { ...state, services: [...state.services, record] });
      return record.pid;
    });
  }

  /** Stops one tracked service (SIGTERM, SIGKILL after `graceMs`) and forgets it. */
  stopService(pid: number, graceMs = 5000): Promise<Termination> {
    return serialised(this.dir, async () => {
      const state = await this.requireRunning();
      const record = state.services.find((s) => s.pid === pid);
      if (!record) throw new DriverError(`${this.label}: no service with pid ${pid}`);
      const result = await terminate([record], graceMs);
      await writeRun(this.dir, { ...state, services: state.services.filter((s) => s !== record) });
      return result;
    });
  }

  /** The services of the current boot and whether each still runs. */
  async services(): Promise<Array<ServiceRecord & { readonly running: boolean }>> {
    const state = await this.running();
    if (!state) return [];
    return Promise.all(state.services.map(async (s) => ({ ...s, running: await isAlive(s) })));
  }

  /** Every pid tracked for the current boot, the holder first. */
  async trackedPids(): Promise<number[]> {
    const state = await readRun(this.dir);
    return state ? [state.holder.pid, ...state.services.map((s) => s.pid)] : [];
  }

  /** Every process running inside the sandbox (its mount namespace), the holder excluded. */
  async processes(): Promise<number[]> {
    const state = await this.running();
    return state ? processesOf(state) : [];
  }

  async writeFile(path: string, content: Uint8Array, attrs: FileAttrs): Promise<void> {
    return writeSpaceFile(this.space, this.checkPath(path), content, attrs);
  }

  async readFile(path: string): Promise<FileRead | undefined> {
    return readSpaceFile(this.space, this.checkPath(path));
  }

  async removeFile(path: string): Promise<void> {
    return removeSpaceFile(this.space, this.checkPath(path));
  }

  async renameFile(from: string, to: string): Promise<void> {
    return renameSpaceFile(this.space, this.checkPath(from), this.checkPath(to));
  }

  /**
   * The host's trees are bound over these directories only inside the sandbox; through the rootfs the
   * driver would see or fill empty mount points, never what the guest sees.
   */
  private checkPath(path: string): string {
    const guestPath = checkGuestPath(path);
    const bound = boundDirOf(guestPath);
    if (bound !== undefined) {
      throw new DriverError(
        `${this.label}: ${guestPath} is under ${bound}, which the lab binds from the host (read-only for system trees); the driver does not read or write there`,
      );
    }
    return guestPath;
  }
}

/** A root filesystem copied with every owner, mode, link and hard link kept (`cp -a`). */
async function copyTree(source: string, target: string): Promise<void> {
  await runChecked([requireTools().cp, '-a', '--', source, target], `copying ${source}`);
}
