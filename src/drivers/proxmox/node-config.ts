import { DriverError } from '../errors.js';
import { check } from './cli/errors.js';
import type { CommandRunner } from './cli/runner.js';
import type { HostDir } from './config/lxc.js';
import type { RawLine } from './config/idmap.js';
import { mergeRawLines } from './config/raw.js';

/**
 * The node-side part of an LXC's configuration, which the API cannot write: raw `lxc.*` lines (id map,
 * AppArmor profile, lxc_options) in the container's config file, and the host directories behind its bind
 * mounts. Both go through the node runner (local, or SSH to a cluster node), argv only.
 *
 * The config file is addressed as /etc/pve/nodes/<node>/lxc/<vmid>.conf: /etc/pve is the cluster file
 * system, the same on every node, so the runner may be on any node. It is read with `cat`, merged
 * (mergeRawLines keeps every other line, snapshot sections included), written to a sibling temp file and
 * renamed over the original: pmxcfs renames atomically within a directory, as Proxmox's own
 * file_set_contents relies on. Not under Proxmox's config lock (flock works only on the guest's own
 * node): the driver writes the lines right after creating the guest, before anything else knows it.
 *
 * Host directories are created with `mkdir -p` and, when an owner is declared, chowned to the already
 * id-mapped host uid/gid. They are paths on the runner's node: on a cluster, bind-mount sources must be
 * on storage every candidate node sees.
 */

const NODE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function lxcConfPath(node: string, vmid: number): string {
  if (!NODE_NAME.test(node)) throw new DriverError(`"${node}" is not a Proxmox node name`);
  if (!Number.isInteger(vmid) || vmid < 100) throw new DriverError(`${vmid} is not a VMID`);
  return `/etc/pve/nodes/${node}/lxc/${vmid}.conf`;
}

/** Reads the raw lxc lines of the config file (main section only), for comparisons and tests. */
export async function readConfText(runner: CommandRunner, node: string, vmid: number): Promise<string> {
  const path = lxcConfPath(node, vmid);
  return check(`reading ${path}`, await runner.run(['cat', '--', path], { what: `cat ${path}` })).stdout;
}

/** Makes the file's lxc.* lines exactly `rawLines` (owned keys replaced); no write when nothing changes. */
export async function writeRawLines(
  runner: CommandRunner,
  node: string,
  vmid: number,
  rawLines: readonly RawLine[],
): Promise<boolean> {
  const path = lxcConfPath(node, vmid);
  const text = await readConfText(runner, node, vmid);
  const merged = mergeRawLines(text, rawLines);
  if (merged === text) return false;
  const tmp = `${path}.tmp.phoenix`;
  const input = new TextEncoder().encode(merged);
  check(
    `writing ${tmp}`,
    await runner.run(['dd', `of=${tmp}`, 'bs=65536', 'status=none'], { input, what: `dd of=${tmp}` }),
  );
  check(`renaming ${tmp}`, await runner.run(['mv', '--', tmp, path], { what: `mv ${tmp}` }));
  return true;
}

export async function ensureHostDirs(runner: CommandRunner, dirs: readonly HostDir[]): Promise<void> {
  for (const d of dirs) {
    if (!d.path.startsWith('/') || d.path.split('/').some((s) => s === '..'))
      throw new DriverError(`bind mount source ${JSON.stringify(d.path)} is not an absolute path`);
    check(`mkdir ${d.path}`, await runner.run(['mkdir', '-p', '--', d.path], { what: `mkdir ${d.path}` }));
    if (d.uid === undefined && d.gid === undefined) continue;
    const owner = `${d.uid ?? ''}:${d.gid ?? ''}`.replace(/:$/, '');
    check(`chown ${d.path}`, await runner.run(['chown', owner, '--', d.path], { what: `chown ${d.path}` }));
  }
}
