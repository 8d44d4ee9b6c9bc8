import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { VolumeSpec } from '../containers/types.js';
import type { GuestKind, GuestSettings, GuestStatus } from '../hypervisor/types.js';
import type { GuestId, GuestRef } from '../../model/inventory.js';

/**
 * The state of the emulated Proxmox host, its guests' Docker daemons and the test CA: plain JSON, so that
 * it can be persisted, diffed and compared in tests. Drivers validate before they change anything and then
 * change it inside `mutate`, which counts the operation and commits.
 */

export interface WorldFile {
  /** Base64 of the bytes. */
  content: string;
  /** As seen inside the guest (the emulator stores what was asked; no id-map translation). */
  owner: string | number;
  group: string | number;
  mode: number;
}

export interface WorldService {
  active: boolean;
  reloads: number;
  restarts: number;
  /** nginx only: the certificate (PEM) served per server name since the last successful load. */
  served?: Record<string, string>;
}

/** What the host and every guest have: a filesystem and systemd services. */
export interface WorldSpace {
  files: Record<string, WorldFile>;
  services: Record<string, WorldService>;
}

export interface WorldStack {
  name: string;
  contentHash: string;
  services: Array<{ name: string; container: string }>;
}

export interface WorldContainer {
  name: string;
  running: boolean;
  startedAt: string;
  /** The stack that created it, and its service definition's hash: compose recreates only changed ones. */
  stack?: string;
  configHash?: string;
  /** Compose restart policy: "always" and "unless-stopped" come back when the guest boots. */
  restart?: string;
  /**
   * What `docker inspect` would show of the service definition; kept so the lab can mirror what runs
   * (the Portainer emulator for a portainer image). Absent in states written before they were recorded.
   */
  image?: string;
  /** The command as an argv (compose's string form split as a shell would, without expansion). */
  command?: string[];
  ports?: WorldPort[];
  binds?: WorldBind[];
}

/** A published port (HostConfig.PortBindings): the container's port and the host port it is bound to. */
export interface WorldPort {
  readonly container: number;
  /** Undefined when Docker picks the host port (compose `"9443"`). */
  readonly host?: number;
  readonly hostIp?: string;
  readonly protocol: 'tcp' | 'udp';
}

/** A mount (HostConfig.Binds): a host path, or a named volume by its Docker name (project prefix applied). */
export interface WorldBind {
  readonly type: 'bind' | 'volume';
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** Restart policies under which Docker brings a container back when its guest boots. */
export const RESTARTS_ON_BOOT: ReadonlySet<string> = new Set(['always', 'unless-stopped']);

export interface WorldDocker {
  volumes: Record<string, VolumeSpec>;
  stacks: Record<string, WorldStack>;
  containers: Record<string, WorldContainer>;
}

export interface WorldSnapshot {
  name: string;
  /** The filesystem at snapshot time: a clone from the snapshot starts from it. */
  files: Record<string, WorldFile>;
}

export interface WorldGuest extends WorldSpace {
  id: GuestId;
  kind: GuestKind;
  status: GuestStatus;
  template: boolean;
  settings: GuestSettings;
  snapshots: WorldSnapshot[];
  node?: string;
  /** "template:<os template>" or "clone:<id>[@snapshot]": where the guest came from. */
  origin?: string;
  docker: WorldDocker;
}

export interface WorldState {
  format: 'phoenix-memory-world';
  version: 1;
  /** Number of committed state changes since the world was created. */
  operations: number;
  host: WorldSpace;
  guests: Record<string, WorldGuest>;
  /** The in-memory issuer's root, created on first use. */
  ca?: { keyPem: string; certPem: string };
  /** The emulated Portainer's database (its /data volume). */
  portainer?: WorldPortainer;
}

export interface WorldPortainer {
  /** The administrator: a salted scrypt hash, never the password. */
  admin?: { username: string; salt: string; hash: string };
  /** Agent environments by name, with the guest whose agent answers at their URL. */
  environments: Record<string, { url: string; guest: number }>;
}

export interface WorldOptions {
  /** Clock for container start times and certificate validity; tests may pin it. */
  now?: () => Date;
}

export function emptyState(): WorldState {
  return { format: 'phoenix-memory-world', version: 1, operations: 0, host: emptySpace(), guests: {} };
}

export function emptySpace(): WorldSpace {
  return { files: {}, services: {} };
}

export function emptyDocker(): WorldDocker {
  return { volumes: {}, stacks: {}, containers: {} };
}

export class MemoryWorld {
  readonly now: () => Date;

  private constructor(
    public state: WorldState,
    /** Where the state is persisted; undefined for a purely in-memory world. */
    readonly path: string | undefined,
    options: WorldOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Opens a world: with a path, loads it when the file exists (and starts empty otherwise); without one,
   * keeps everything in memory. One process per state file: there is no cross-process locking here.
   */
  static open(path?: string, options: WorldOptions = {}): MemoryWorld {
    if (path === undefined) return new MemoryWorld(emptyState(), undefined, options);
    removeStaleTempFiles(path);
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new MemoryWorld(text === undefined ? emptyState() : parseState(text, path), path, options);
  }

  get operations(): number {
    return this.state.operations;
  }

  /** The guest record, or undefined. */
  guest(id: GuestId): WorldGuest | undefined {
    return this.state.guests[String(id)];
  }

  /** The host or a guest's filesystem and services; undefined for a guest that does not exist. */
  space(ref: GuestRef): WorldSpace | undefined {
    return ref === 'host' ? this.state.host : this.guest(ref);
  }

  /**
   * Applies one state change, counts it and persists it. Callers check every precondition first, so that a
   * change never stops half way; the commit is synchronous, so concurrent async callers cannot interleave
   * one change's write with another's.
   */
  mutate<T>(change: (state: WorldState) => T): T {
    const result = change(this.state);
    this.state.operations += 1;
    this.commit();
    return result;
  }

  /** A deep copy of the state, for assertions and comparisons. */
  snapshot(): WorldState {
    return structuredClone(this.state);
  }

  /**
   * Writes the state atomically: a temp file beside the target, fsync, rename, fsync of the directory. A
   * process killed at any instant leaves the old or the new file, never a torn one.
   */
  commit(): void {
    if (this.path === undefined) return;
    const temp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      // writeFileSync on a descriptor loops until every byte is written.
      writeFileSync(fd, JSON.stringify(this.state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
    syncDirectory(dirname(this.path));
  }
}

function parseState(text: string, path: string): WorldState {
  const data = JSON.parse(text) as Partial<WorldState>;
  if (data.format !== 'phoenix-memory-world' || data.version !== 1) {
    throw new Error(`${path} is not a Phoenix memory world (format version 1)`);
  }
  return data as WorldState;
}

/** The rename is durable only once the directory entry is on disk. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Temp files of processes that died before their rename: harmless, but they pile up. */
function removeStaleTempFiles(path: string): void {
  const prefix = `${basename(path)}.tmp-`;
  let entries: string[];
  try {
    entries = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) {
      try {
        unlinkSync(join(dirname(path), entry));
      } catch {
        // Another opener removed it first.
      }
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
