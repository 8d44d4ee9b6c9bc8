import { lstat, mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DriverError } from '../drivers/errors.js';
import { formatKernelMap } from '../model/idmap.js';
import type { IdMap } from '../model/idmap.js';
import { holderArgv, mountArgv } from './sandbox-argv.js';
import type { BindMount } from './sandbox-argv.js';
import {
  commandName,
  isAlive,
  namespaceOf,
  procRef,
  processesInMountNamespace,
  requireTools,
  runChecked,
  spawnDetached,
  terminate,
  until,
  writeIdMap,
} from './sandbox-proc.js';
import type { ProcRef, Termination } from './sandbox-proc.js';
import { readRun, runPath, writeRun } from './sandbox-store.js';
import type { RunState } from './sandbox-store.js';

/**
 * One boot of a sandbox: the namespace holder with the guest's id map, the host's trees bound into the
 * rootfs inside the holder's mount namespace, and the teardown that ends every process of the boot.
 */

export interface BootTarget {
  readonly dir: string;
  readonly rootfs: string;
  readonly idMap: IdMap;
  /** "CT 101": names the guest in messages. */
  readonly label: string;
}

export interface HaltReport {
  /** Tracked service pids and stragglers that ended on SIGTERM. */
  readonly terminated: number[];
  /** Those that needed SIGKILL. */
  readonly killed: number[];
  /** The holder, when one was running. */
  readonly holder?: number;
}

/** The holder and services of the current boot; undefined when the guest is stopped. */
export async function currentBoot(dir: string): Promise<RunState | undefined> {
  const state = await readRun(dir);
  return state && (await isAlive(state.holder)) ? state : undefined;
}

/**
 * Boots: a holder in new user and mount namespaces, the id map written by host root, then the host's
 * system trees bound into the rootfs inside that mount namespace only. On failure nothing is left running.
 */
export async function boot(t: BootTarget): Promise<void> {
  const mounts = await bindMounts(t);
  const tools = requireTools();
  const holder = await spawnDetached(holderArgv(tools), { PATH: '/usr/bin:/bin' });
  let exited = false;
  void holder.exited.then(() => (exited = true));
  let ref: ProcRef | undefined;
  try {
    // Once unshare has exec'd sleep, both namespaces exist and unshare's own setup is finished.
    const sleepName = basename(tools.sleep);
    if (!(await until(async () => (await commandName(holder.pid)) === sleepName, 5000))) {
      throw new DriverError(`${t.label}: the namespace holder did not start`);
    }
    ref = await procRef(holder.pid);
    await writeRun(t.dir, { holder: ref, services: [] });
    await writeMaps(t, holder.pid);
    for (const m of mounts) {
      await runChecked(
        mountArgv(tools, holder.pid, t.rootfs, m),
        `${t.label}: mounting ${m.source} on /${m.target}`,
      );
    }
  } catch (e) {
    if (ref) await terminate([ref], 1000).catch(() => undefined);
    else if (!exited) process.kill(holder.pid, 'SIGKILL'); // still our unreaped child: the pid is ours
    await rm(runPath(t.dir), { force: true });
    throw e;
  }
}

async function writeMaps(t: BootTarget, pid: number): Promise<void> {
  for (const [file, ranges] of [
    ['uid_map', t.idMap.uid],
    ['gid_map', t.idMap.gid],
  ] as const) {
    const text = formatKernelMap(ranges);
    try {
      await writeIdMap(pid, file, text);
    } catch (e) {
      throw new DriverError(
        `${t.label}: the kernel refused ${file} ${JSON.stringify(text)}: ${(e as Error).message}`,
      );
    }
  }
}

/**
 * The host's system trees as this host lays them out: real directories are bound read-only; on a
 * merged-/usr host /bin, /lib... are links into /usr in the rootfs too and need nothing.
 */
async function bindMounts(t: BootTarget): Promise<BindMount[]> {
  const out: BindMount[] = [];
  for (const d of ['usr', 'lib', 'lib64', 'bin', 'sbin']) {
    const st = await lstat(`/${d}`).catch(() => undefined);
    if (st?.isDirectory()) out.push({ source: `/${d}`, target: d, how: 'ro' });
  }
  out.push(
    { source: '/dev', target: 'dev', how: 'rbind' },
    { source: '/proc', target: 'proc', how: 'rbind' },
  );
  for (const m of out) {
    // mount follows links in its target: a guest that replaced a mount point by a link must not redirect it.
    const st = await lstat(join(t.rootfs, m.target)).catch(() => undefined);
    if (!st) await mkdir(join(t.rootfs, m.target), { mode: 0o755 });
    else if (!st.isDirectory()) {
      throw new DriverError(`${t.label}: /${m.target} in the root filesystem is not a directory`);
    }
  }
  return out;
}

/**
 * Ends the boot whatever its state, and never fails because it is already over (test teardown, crash
 * recovery): tracked services get SIGTERM, then SIGKILL after `graceMs`; whatever else still runs in the
 * sandbox's mount namespace (children a service left, commands whose caller died) follows; the holder goes
 * last, and the namespaces and their mounts go with it.
 */
export async function halt(dir: string, graceMs: number): Promise<HaltReport> {
  const state = await readRun(dir);
  if (!state) return { terminated: [], killed: [] };
  const alive = [];
  for (const r of [state.holder, ...state.services]) if (await isAlive(r)) alive.push(r);
  const ns = alive.length ? await namespaceOf(alive[0]!.pid, 'mnt') : undefined;
  const services = await terminate(state.services, graceMs);
  const inside = ns ? await processesInMountNamespace(ns) : [];
  const rest = await terminate(
    inside.filter((r) => r.pid !== state.holder.pid),
    1000,
  );
  const holder = await terminate([state.holder], 1000);
  await rm(runPath(dir), { force: true });
  const all: Termination[] = [services, rest, holder];
  return {
    terminated: all.flatMap((x) => x.terminated).filter((p) => p !== state.holder.pid),
    killed: all.flatMap((x) => x.killed).filter((p) => p !== state.holder.pid),
    ...(alive.includes(state.holder) ? { holder: state.holder.pid } : {}),
  };
}

/** Every process running inside a boot (its mount namespace), the holder excluded. */
export async function processesOf(state: RunState): Promise<number[]> {
  const ns = await namespaceOf(state.holder.pid, 'mnt');
  if (!ns) return [];
  return (await processesInMountNamespace(ns)).map((r) => r.pid).filter((p) => p !== state.holder.pid);
}
