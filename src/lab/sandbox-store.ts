import { join } from 'node:path';
import type { GuestKind, GuestSettings } from '../drivers/hypervisor/types.js';
import type { IdMap } from '../model/idmap.js';
import type { GuestId } from '../model/inventory.js';
import type { Listen } from './sandbox-argv.js';
import { readJson, writeJson } from './sandbox-fs.js';
import type { ProcRef } from './sandbox-proc.js';

/**
 * What a sandbox keeps on disk, so a later `phoenix` process sees the same guests: `meta.json` holds the
 * configuration (like /etc/pve/lxc/<id>.conf), `run.json` the processes of the current boot. Running
 * state is never stored as a flag: it is re-derived from whether the recorded holder still runs.
 */

export interface SandboxMeta {
  readonly format: 1;
  readonly id: GuestId;
  readonly kind: GuestKind;
  readonly template: boolean;
  readonly settings: GuestSettings;
  readonly snapshots: readonly string[];
  readonly node?: string;
  /** "template:debian-12" or "clone:900@base": where the root filesystem came from. */
  readonly origin?: string;
  /** The map the guest runs with; applied to the holder at each start, like lxc.idmap. */
  readonly idMap: IdMap;
}

export interface ServiceRecord extends ProcRef {
  readonly name?: string;
  readonly argv: readonly string[];
  readonly logFile: string;
  readonly listen: readonly Listen[];
}

export interface RunState {
  readonly holder: ProcRef;
  readonly services: readonly ServiceRecord[];
}

export const metaPath = (dir: string) => join(dir, 'meta.json');
export const runPath = (dir: string) => join(dir, 'run.json');

export const readMeta = (dir: string) => readJson<SandboxMeta>(metaPath(dir));
export const writeMeta = (dir: string, meta: SandboxMeta) => writeJson(metaPath(dir), meta);
export const readRun = (dir: string) => readJson<RunState>(runPath(dir));
export const writeRun = (dir: string, run: RunState) => writeJson(runPath(dir), run);

const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` after every earlier call for the same key has settled: read-modify-write of a sandbox's state
 * files from concurrent calls in one process never loses an update. (Separate processes are not locked
 * against each other; the lab runs one `phoenix` at a time.)
 */
export function serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const next = previous.then(fn, fn);
  const settled = next.catch(() => undefined);
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return next;
}
