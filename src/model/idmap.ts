/**
 * Unprivileged LXC id mapping. Proxmox maps container ids 0..65535 to host 100000..165535; each
 * configured `id_maps` entry punches a hole that maps a container range to a chosen host range.
 */

export interface IdRange {
  readonly container: number;
  readonly host: number;
  readonly size: number;
}

export interface IdMap {
  readonly uid: readonly IdRange[];
  readonly gid: readonly IdRange[];
}

export interface IdMapException {
  readonly type: 'uid' | 'gid';
  readonly container_id: number;
  readonly host_id: number;
  readonly size: number;
}

export const DEFAULT_HOST_BASE = 100000;
export const DEFAULT_RANGE = 65536;

export const IDENTITY: IdMap = {
  uid: [{ container: 0, host: 0, size: 2 ** 32 - 1 }],
  gid: [{ container: 0, host: 0, size: 2 ** 32 - 1 }],
};

export function effectiveIdMap(unprivileged: boolean, exceptions: readonly IdMapException[] = []): IdMap {
  if (!unprivileged) return IDENTITY;
  const build = (type: 'uid' | 'gid'): IdRange[] => {
    const holes = exceptions
      .filter((e) => e.type === type)
      .map((e) => ({ container: e.container_id, host: e.host_id, size: e.size }))
      .sort((a, b) => a.container - b.container);
    const out: IdRange[] = [];
    let next = 0;
    for (const hole of holes) {
      if (hole.container > next)
        out.push({ container: next, host: DEFAULT_HOST_BASE + next, size: hole.container - next });
      out.push(hole);
      next = Math.max(next, hole.container + hole.size);
    }
    if (next < DEFAULT_RANGE)
      out.push({ container: next, host: DEFAULT_HOST_BASE + next, size: DEFAULT_RANGE - next });
    return out;
  };
  return { uid: build('uid'), gid: build('gid') };
}

/** The host id that a container id maps to, or undefined if the container id is not mapped. */
export function toHostId(ranges: readonly IdRange[], containerId: number): number | undefined {
  for (const r of ranges) {
    if (containerId >= r.container && containerId < r.container + r.size)
      return r.host + (containerId - r.container);
  }
  return undefined;
}

/** The container id a host id appears as; undefined means it shows as nobody (65534) inside. */
export function toContainerId(ranges: readonly IdRange[], hostId: number): number | undefined {
  for (const r of ranges) {
    if (hostId >= r.host && hostId < r.host + r.size) return r.container + (hostId - r.host);
  }
  return undefined;
}

/** Overlapping container ranges make the map invalid for the kernel: report them. */
export function overlappingExceptions(exceptions: readonly IdMapException[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < exceptions.length; i++) {
    for (let j = i + 1; j < exceptions.length; j++) {
      const a = exceptions[i]!;
      const b = exceptions[j]!;
      if (a.type !== b.type) continue;
      const overlapC = a.container_id < b.container_id + b.size && b.container_id < a.container_id + a.size;
      const overlapH = a.host_id < b.host_id + b.size && b.host_id < a.host_id + a.size;
      if (overlapC || overlapH) out.push([i, j]);
    }
  }
  return out;
}

/** The uid_map/gid_map text the kernel expects: one "container host size" line per range. */
export function formatKernelMap(ranges: readonly IdRange[]): string {
  return ranges.map((r) => `${r.container} ${r.host} ${r.size}\n`).join('');
}
