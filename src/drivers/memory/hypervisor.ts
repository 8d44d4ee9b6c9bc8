import { posix } from 'node:path';
import { DriverError, NotFoundError } from '../errors.js';
import { HYPERVISOR_MUTATIONS } from '../hypervisor/types.js';
import type {
  ExecOptions,
  ExecResult,
  FileAttrs,
  FileRead,
  GuestCreate,
  GuestKind,
  GuestObservation,
  GuestSettings,
  HypervisorDriver,
} from '../hypervisor/types.js';
import type { GuestId, GuestRef } from '../../model/inventory.js';
import { CallRecorder } from './calls.js';
import type { MemoryDriverOptions } from './calls.js';
import { runCommand } from './commands.js';
import { RESTARTS_ON_BOOT, emptyDocker } from './world.js';
import type { MemoryWorld, WorldGuest, WorldSpace } from './world.js';

/**
 * A Proxmox host in memory, with pct/qm's documented behaviour and messages: guests are created stopped,
 * ids are unique, a running guest cannot be destroyed or turned into a template, a template cannot be
 * started, disks only grow, and commands run only in running guests. File operations go through the
 * guest's filesystem (like `pct push`/`pull` on a mounted rootfs), so they work on stopped guests too.
 */

const NODE = 'pve';
/** Proxmox's configid format, used for snapshot names. */
const SNAPSHOT_NAME = /^[A-Za-z][A-Za-z0-9_-]{1,39}$/;

const label = (kind: GuestKind) => (kind === 'lxc' ? 'CT' : 'VM');

export class MemoryHypervisor implements HypervisorDriver {
  readonly name = 'memory';
  private readonly recorder: CallRecorder;

  constructor(
    readonly world: MemoryWorld,
    options: MemoryDriverOptions = {},
  ) {
    this.recorder = new CallRecorder(HYPERVISOR_MUTATIONS, options);
  }

  get calls(): ReadonlyMap<string, number> {
    return this.recorder.calls;
  }
  get mutations(): number {
    return this.recorder.mutations;
  }
  get faults() {
    return this.recorder.faults;
  }

  async listGuests(): Promise<GuestObservation[]> {
    await this.recorder.enter('listGuests', []);
    return Object.values(this.world.state.guests)
      .sort((a, b) => a.id - b.id)
      .map(observe);
  }

  async getGuest(id: GuestId): Promise<GuestObservation | undefined> {
    await this.recorder.enter('getGuest', [id]);
    const guest = this.world.guest(id);
    return guest && observe(guest);
  }

  async readFile(target: GuestRef, path: string): Promise<FileRead | undefined> {
    await this.recorder.enter('readFile', [target, path]);
    const file = this.requireSpace(target).files[checkPath(path)];
    if (!file) return undefined;
    return {
      content: new Uint8Array(Buffer.from(file.content, 'base64')),
      attrs: { owner: file.owner, group: file.group, mode: file.mode },
    };
  }

  async createGuest(spec: GuestCreate): Promise<void> {
    await this.recorder.enter('createGuest', [spec]);
    const existing = this.world.guest(spec.id);
    if (existing) {
      throw new DriverError(
        `unable to create ${label(spec.kind)} ${spec.id} - ${label(existing.kind)} ${spec.id} already exists on node '${existing.node ?? NODE}'`,
      );
    }
    let files: WorldSpace['files'] = {};
    let origin = spec.template === undefined ? undefined : `template:${spec.template}`;
    if (spec.cloneFrom) {
      const source = this.world.guest(spec.cloneFrom.id);
      if (!source) throw new NotFoundError(`source guest ${spec.cloneFrom.id}`);
      if (source.kind !== spec.kind) {
        throw new DriverError(`cannot clone ${label(source.kind)} ${source.id} into a ${label(spec.kind)}`);
      }
      files = source.files;
      const snapshotName = spec.cloneFrom.snapshot;
      if (snapshotName !== undefined) {
        const snapshot = source.snapshots.find((s) => s.name === snapshotName);
        if (!snapshot) throw new DriverError(`snapshot '${snapshotName}' does not exist`);
        files = snapshot.files;
      }
      origin = `clone:${source.id}${snapshotName === undefined ? '' : `@${snapshotName}`}`;
    }
    const guest: WorldGuest = {
      id: spec.id,
      kind: spec.kind,
      status: 'stopped',
      template: false,
      settings: structuredClone(spec.settings),
      snapshots: [],
      ...(spec.node === undefined ? {} : { node: spec.node }),
      ...(origin === undefined ? {} : { origin }),
      // A clone copies the disk; services and Docker are runtime state and start from nothing.
      files: structuredClone(files),
      services: {},
      docker: emptyDocker(),
    };
    this.world.mutate((state) => {
      state.guests[String(spec.id)] = guest;
    });
  }

  async updateGuest(id: GuestId, changes: Partial<GuestSettings>): Promise<void> {
    await this.recorder.enter('updateGuest', [id, changes]);
    const guest = this.requireGuest(id);
    if (changes.unprivileged !== undefined && changes.unprivileged !== guest.settings.unprivileged) {
      throw new DriverError("unable to modify read-only option: 'unprivileged'");
    }
    const disk = guest.settings.diskGb;
    if (changes.diskGb !== undefined && disk !== undefined && changes.diskGb < disk) {
      throw new DriverError('unable to shrink disk size');
    }
    this.world.mutate(() => {
      guest.settings = { ...guest.settings, ...structuredClone(changes) };
    });
  }

  async startGuest(id: GuestId): Promise<void> {
    await this.recorder.enter('startGuest', [id]);
    const guest = this.requireGuest(id);
    if (guest.template) throw new DriverError(`you can't start a ${label(guest.kind)} if it's a template`);
    if (guest.status === 'running') return;
    this.world.mutate(() => {
      guest.status = 'running';
      // Installed services are enabled units, and Docker restarts containers by their restart policy.
      for (const service of Object.values(guest.services)) service.active = true;
      const startedAt = this.world.now().toISOString();
      for (const container of Object.values(guest.docker.containers)) {
        if (RESTARTS_ON_BOOT.has(container.restart ?? '')) {
          Object.assign(container, { running: true, startedAt });
        }
      }
    });
  }

  async stopGuest(id: GuestId): Promise<void> {
    await this.recorder.enter('stopGuest', [id]);
    const guest = this.requireGuest(id);
    if (guest.status === 'stopped') {
      // pct refuses to stop a stopped container; qm treats it as done.
      if (guest.kind === 'lxc') throw new DriverError(`CT ${id} not running`);
      return;
    }
    this.world.mutate(() => {
      guest.status = 'stopped';
      for (const service of Object.values(guest.services)) service.active = false;
      for (const container of Object.values(guest.docker.containers)) container.running = false;
    });
  }

  async deleteGuest(id: GuestId): Promise<void> {
    await this.recorder.enter('deleteGuest', [id]);
    const guest = this.requireGuest(id);
    if (guest.status === 'running') {
      throw new DriverError(`${label(guest.kind)} ${id} is running - destroy failed`);
    }
    this.world.mutate((state) => {
      delete state.guests[String(id)];
    });
  }

  async snapshotGuest(id: GuestId, name: string): Promise<void> {
    await this.recorder.enter('snapshotGuest', [id, name]);
    const guest = this.requireGuest(id);
    if (!SNAPSHOT_NAME.test(name)) {
      throw new DriverError(`invalid format - invalid configuration ID '${name}'`);
    }
    if (guest.snapshots.some((s) => s.name === name)) {
      throw new DriverError(`snapshot name '${name}' already used`);
    }
    this.world.mutate(() => {
      guest.snapshots.push({ name, files: structuredClone(guest.files) });
    });
  }

  async markTemplate(id: GuestId): Promise<void> {
    await this.recorder.enter('markTemplate', [id]);
    const guest = this.requireGuest(id);
    if (guest.template) throw new DriverError("you can't convert a template to a template");
    if (guest.status === 'running') {
      throw new DriverError(
        `you can't convert a ${label(guest.kind)} to template if the ${label(guest.kind)} is running`,
      );
    }
    this.world.mutate(() => {
      guest.template = true;
    });
  }

  async exec(target: GuestRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    await this.recorder.enter('exec', [target, argv, opts]);
    if (argv.length === 0) throw new DriverError('exec needs a command (empty argv)');
    if (target !== 'host') {
      const guest = this.requireGuest(target);
      if (guest.status !== 'running') throw new DriverError(`${label(guest.kind)} ${target} not running`);
    }
    return runCommand(this.world, target, argv);
  }

  async writeFile(target: GuestRef, path: string, content: Uint8Array, attrs: FileAttrs): Promise<void> {
    await this.recorder.enter('writeFile', [target, path, content, attrs]);
    const space = this.requireSpace(target);
    const key = checkPath(path);
    if (!Number.isInteger(attrs.mode) || attrs.mode < 0 || attrs.mode > 0o7777) {
      throw new DriverError(`invalid file mode ${attrs.mode}`);
    }
    // One assignment of a complete record: a reader never sees new content with old attributes.
    const file = {
      content: Buffer.from(content).toString('base64'),
      owner: attrs.owner,
      group: attrs.group,
      mode: attrs.mode,
    };
    this.world.mutate(() => {
      space.files[key] = file;
    });
  }

  async removeFile(target: GuestRef, path: string): Promise<void> {
    await this.recorder.enter('removeFile', [target, path]);
    const space = this.requireSpace(target);
    const key = checkPath(path);
    // Like `rm -f`: removing what is not there is success, so a retried removal converges.
    if (!(key in space.files)) return;
    this.world.mutate(() => {
      delete space.files[key];
    });
  }

  async renameFile(target: GuestRef, from: string, to: string): Promise<void> {
    await this.recorder.enter('renameFile', [target, from, to]);
    const space = this.requireSpace(target);
    const src = checkPath(from);
    const dst = checkPath(to);
    if (posix.dirname(src) !== posix.dirname(dst))
      throw new DriverError(`rename only within one directory (${src} → ${dst})`);
    const file = space.files[src];
    if (!file) throw new NotFoundError(`${target}:${src}`);
    this.world.mutate(() => {
      space.files[dst] = file;
      delete space.files[src];
    });
  }

  private requireGuest(id: GuestId): WorldGuest {
    const guest = this.world.guest(id);
    if (!guest) throw new NotFoundError(`guest ${id}`);
    return guest;
  }

  private requireSpace(target: GuestRef): WorldSpace {
    return target === 'host' ? this.world.state.host : this.requireGuest(target);
  }
}

/** An absolute path without "." or ".." segments, normalised ("//" collapsed, no trailing "/"). */
function checkPath(path: string): string {
  const segments = path.split('/').slice(1);
  if (!path.startsWith('/') || path.includes('\0') || segments.some((s) => s === '.' || s === '..')) {
    throw new DriverError(`invalid path "${path}": must be absolute without "." or ".." segments`);
  }
  const normal = posix.normalize(path).replace(/\/+$/, '');
  if (normal === '') throw new DriverError('invalid path "/": not a file');
  return normal;
}

function observe(guest: WorldGuest): GuestObservation {
  return {
    id: guest.id,
    kind: guest.kind,
    status: guest.status,
    template: guest.template,
    settings: structuredClone(guest.settings),
    snapshots: guest.snapshots.map((s) => s.name),
    ...(guest.node === undefined ? {} : { node: guest.node }),
  };
}
