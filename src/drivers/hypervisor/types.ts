import type { GuestId, GuestRef } from '../../model/inventory.js';

/**
 * The hypervisor as Phoenix needs it. Proxmox over the CLI, Proxmox over the REST API, the lab and the
 * in-memory emulator all implement this one interface.
 */

export type GuestKind = 'lxc' | 'vm';
export type GuestStatus = 'running' | 'stopped';

/** The comparable, normalised settings of a guest: what `decide` diffs against the inventory. */
export interface GuestSettings {
  readonly name: string;
  readonly cores?: number;
  readonly memoryMb?: number;
  readonly diskGb?: number;
  /** "10.0.0.10/24", or "dhcp". */
  readonly ip?: string;
  readonly gateway?: string;
  readonly mac?: string;
  readonly nameservers?: readonly string[];
  readonly onBoot: boolean;
  readonly bootOrder: number;
  readonly bootDelaySeconds: number;
  /** LXC only. */
  readonly unprivileged?: boolean;
}

export interface GuestObservation {
  readonly id: GuestId;
  readonly kind: GuestKind;
  readonly status: GuestStatus;
  readonly template: boolean;
  readonly settings: GuestSettings;
  readonly snapshots: readonly string[];
  /** Proxmox node the guest lives on (clusters); undefined on a single host. */
  readonly node?: string;
}

export interface GuestCreate {
  readonly id: GuestId;
  readonly kind: GuestKind;
  readonly settings: GuestSettings;
  /** Create from an OS template or cloud image ... */
  readonly template?: string;
  /** ... or clone another guest (from a snapshot when given). */
  readonly cloneFrom?: { readonly id: GuestId; readonly snapshot?: string };
  readonly node?: string;
}

/** Ownership as seen inside the guest; drivers translate it through the guest's id map. */
export interface FileAttrs {
  readonly owner: string | number;
  readonly group: string | number;
  readonly mode: number;
}

export interface FileRead {
  readonly content: Uint8Array;
  readonly attrs: FileAttrs;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly input?: Uint8Array;
  readonly timeoutMs?: number;
}

export interface HypervisorDriver {
  readonly name: string;
  listGuests(): Promise<GuestObservation[]>;
  getGuest(id: GuestId): Promise<GuestObservation | undefined>;
  readFile(target: GuestRef, path: string): Promise<FileRead | undefined>;

  createGuest(spec: GuestCreate): Promise<void>;
  updateGuest(id: GuestId, changes: Partial<GuestSettings>): Promise<void>;
  startGuest(id: GuestId): Promise<void>;
  stopGuest(id: GuestId): Promise<void>;
  deleteGuest(id: GuestId): Promise<void>;
  snapshotGuest(id: GuestId, name: string): Promise<void>;
  markTemplate(id: GuestId): Promise<void>;
  /** Runs an argv (never a shell string) inside the guest, or on the host. */
  exec(target: GuestRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Writes atomically (temp file in the same directory, then rename) with the given attributes. */
  writeFile(target: GuestRef, path: string, content: Uint8Array, attrs: FileAttrs): Promise<void>;
  removeFile(target: GuestRef, path: string): Promise<void>;
  /**
   * Renames a file within one directory (atomic, like rename(2)): staged files are put in place one rename
   * each, after they were checked together.
   */
  renameFile(target: GuestRef, from: string, to: string): Promise<void>;
}

/** Methods that change the world. The read-only guard refuses exactly these. */
export const HYPERVISOR_MUTATIONS = [
  'createGuest',
  'updateGuest',
  'startGuest',
  'stopGuest',
  'deleteGuest',
  'snapshotGuest',
  'markTemplate',
  'exec',
  'writeFile',
  'removeFile',
  'renameFile',
] as const satisfies ReadonlyArray<keyof HypervisorDriver>;
