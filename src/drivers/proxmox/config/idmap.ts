import type { Origin } from '../../../config/diagnostics.js';
import type { IdMap, IdRange } from '../../../model/idmap.js';
import { DEFAULT_HOST_BASE, DEFAULT_RANGE, toHostId } from '../../../model/idmap.js';
import { ProxmoxConfigError } from './errors.js';

/**
 * Unprivileged id maps as Proxmox writes them: raw `lxc.idmap: u|g <container> <host> <size>` lines in
 * /etc/pve/lxc/<vmid>.conf. Proxmox has no API parameter for raw `lxc.*` keys (the API refuses them), so
 * these lines are written to the file by the CLI transport. A configured map replaces Proxmox's default
 * entirely, hence the full map (default ranges around each exception) is written, never a fixed line.
 */

export interface RawLine {
  readonly key: string;
  readonly value: string;
}

export function formatRawLine(l: RawLine): string {
  return `${l.key}: ${l.value}`;
}

/** Lines for a map; uid lines first, then gid lines, each in container order. */
export function idmapLines(map: IdMap): RawLine[] {
  const line = (t: 'u' | 'g', r: IdRange): RawLine => ({
    key: 'lxc.idmap',
    value: `${t} ${r.container} ${r.host} ${r.size}`,
  });
  return [...map.uid.map((r) => line('u', r)), ...map.gid.map((r) => line('g', r))];
}

/**
 * Host ids outside Proxmox's default 100000..165535 that the map uses: root must be allowed them in
 * /etc/subuid and /etc/subgid (`root:<host>:<size>`), or the container does not start.
 */
export interface SubordinateIds {
  readonly type: 'uid' | 'gid';
  readonly host: number;
  readonly size: number;
}

export function subordinateIds(map: IdMap): SubordinateIds[] {
  const out: SubordinateIds[] = [];
  for (const type of ['uid', 'gid'] as const) {
    for (const r of map[type]) {
      const inDefault = r.host >= DEFAULT_HOST_BASE && r.host + r.size <= DEFAULT_HOST_BASE + DEFAULT_RANGE;
      if (!inDefault) out.push({ type, host: r.host, size: r.size });
    }
  }
  return out;
}

/** A directory owner declared as seen inside the guest, translated to host ids through the map. */
export function hostOwner(
  map: IdMap,
  owner: { readonly uid?: number; readonly gid?: number },
  origin: Origin | undefined,
  option: string,
): { uid?: number; gid?: number } {
  const shift = (type: 'uid' | 'gid', id: number | undefined): number | undefined => {
    if (id === undefined) return undefined;
    const host = toHostId(map[type], id);
    if (host === undefined)
      throw new ProxmoxConfigError(
        origin,
        option,
        `owner ${type} ${id} is not mapped by the container's id map, so no host owner can make it appear as ${id} inside`,
      );
    return host;
  };
  return { uid: shift('uid', owner.uid), gid: shift('gid', owner.gid) };
}
