import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

/**
 * The stand-in's world: one JSON state file (guests, file ownership records, injected faults, a call log) and
 * one root directory per guest next to it (`<dir of state>/guests/<vmid>/`). Every tool invocation takes a
 * lock directory (`<state>.lock`), reads the state, changes it and writes it back atomically (rename), so
 * concurrent invocations serialise like Proxmox's config locks do.
 */

export type GuestType = 'lxc' | 'qemu';

export interface EmuGuest {
  readonly type: GuestType;
  status: 'running' | 'stopped';
  /** The guest config as `pct config`/`qm config` would list it (values as strings or numbers). */
  config: Record<string, string | number>;
  /** systemd units inside the guest and their state. */
  services?: Record<string, 'active' | 'inactive'>;
  /** Names resolvable inside the guest for pct push --user/--group; default root=0. */
  users?: Record<string, number>;
  groups?: Record<string, number>;
}

export interface FileMeta {
  uid: number;
  gid: number;
  mode: number;
}

export interface EmuState {
  /** The node name in config paths and API paths ("pve"). */
  node: string;
  guests: Record<string, EmuGuest>;
  /** Ownership and mode of guest files, as seen inside the guest: key "<vmid>:<absolute path>". */
  files: Record<string, FileMeta>;
  faults?: {
    /** VMIDs whose config lock cannot be taken: lock-taking commands fail with "can't lock file ... got timeout". */
    lockTimeout?: number[];
    /** `qm guest exec` on these VMIDs prints non-JSON ("garbage") or the timed-out `{"pid": N}` ("timeout"). */
    execOutput?: Record<string, 'garbage' | 'timeout'>;
  };
  /** Results of agent execs, for `qm guest exec-status`: vmid → pid → status object. */
  execs?: Record<string, Record<string, Record<string, unknown>>>;
  nextPid?: number;
  /** Every invocation: [tool, ...argv]. Tests assert on it (e.g. that nothing mutating ran). */
  log: string[][];
}

/** A failure as the real tool reports it: message on stderr, exit status (perl `die` exits 255). */
export class Die extends Error {
  constructor(
    message: string,
    readonly exitCode = 255,
  ) {
    super(message);
  }
}

export function guestRoot(statePath: string, vmid: string): string {
  return join(dirname(statePath), 'guests', vmid);
}

/** The host path of a guest path; `..` cannot climb out (the path is normalised from the guest's /). */
export function hostPath(statePath: string, vmid: string, guestPath: string): string {
  return join(guestRoot(statePath, vmid), posix.normalize(`/${guestPath}`));
}

export function metaKey(vmid: string, guestPath: string): string {
  return `${vmid}:${posix.normalize(`/${guestPath}`)}`;
}

export function configDigest(config: Record<string, string | number>): string {
  const text = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}\n`)
    .join('');
  return createHash('sha1').update(text).digest('hex');
}

export function configPath(state: EmuState, type: GuestType, vmid: string): string {
  return `nodes/${state.node}/${type === 'lxc' ? 'lxc' : 'qemu-server'}/${vmid}.conf`;
}

/** The guest, or the error `load_config` dies with. */
export function loadGuest(state: EmuState, type: GuestType, vmid: string): EmuGuest {
  const g = state.guests[vmid];
  if (!/^\d+$/.test(vmid) || !g || g.type !== type) {
    throw new Die(`Configuration file '${configPath(state, type, vmid)}' does not exist`);
  }
  return g;
}

/** PVE's lock_config: fails after its timeout when the fault is injected for this guest. */
export function lockConfig(state: EmuState, type: GuestType, vmid: string): void {
  if (state.faults?.lockTimeout?.includes(Number(vmid))) {
    const file =
      type === 'lxc' ? `/run/lock/lxc/pve-config-${vmid}.lock` : `/var/lock/qemu-server/lock-${vmid}.conf`;
    throw new Die(`can't lock file '${file}' - got timeout`);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs `change` on the state under the state lock and saves it afterwards (also when `change` threw). */
export async function withState<T>(statePath: string, change: (s: EmuState) => Promise<T>): Promise<T> {
  const lock = `${statePath}.lock`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > deadline) throw e;
      sleepSync(5);
    }
  }
  try {
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as EmuState;
    try {
      return await change(state);
    } finally {
      const tmp = `${statePath}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(state, null, 1));
      renameSync(tmp, statePath);
    }
  } finally {
    rmdirSync(lock);
  }
}
