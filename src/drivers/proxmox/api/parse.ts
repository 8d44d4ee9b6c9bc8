import { PveProtocolError } from './errors.js';

/**
 * Pure parsers of API answers into typed values, following the returns schemas of Proxmox's API
 * description (pve-docs api-viewer). Proxmox's Perl side sends booleans as 1/0 and some integers as
 * strings ("100" from /cluster/nextid), so both forms are accepted.
 */

export type PveGuestType = 'lxc' | 'qemu';

/** An entry of `GET /cluster/resources?type=vm`. */
export interface ClusterGuest {
  readonly vmid: number;
  readonly type: PveGuestType;
  /** The node the guest lives on: every call about the guest goes there. */
  readonly node: string;
  /** "running", "stopped", or "unknown" (e.g. its node is offline). */
  readonly status: string;
  readonly name?: string;
  readonly template: boolean;
  /** The config lock held right now ("backup", "clone", "create", ...), if any. */
  readonly lock?: string;
  readonly maxmem?: number;
  readonly mem?: number;
  readonly maxdisk?: number;
}

/** An entry of `GET /nodes`. */
export interface PveNode {
  readonly node: string;
  readonly status: 'online' | 'offline' | 'unknown';
  readonly maxmem?: number;
  readonly mem?: number;
  readonly maxcpu?: number;
  /** "AB:CD:..." — the SHA-256 fingerprint of the node's certificate. */
  readonly sslFingerprint?: string;
}

export type PveConfigValue = string | number | boolean | readonly unknown[];

/** `GET /nodes/{node}/{lxc|qemu}/{vmid}/config`: the config keys, and the digest to pass with a write. */
export interface GuestConfig {
  readonly digest: string;
  /** Every key except `digest`, as Proxmox sent it ("net0": "name=eth0,bridge=vmbr0,...", "memory": 2048). */
  readonly values: Readonly<Record<string, PveConfigValue>>;
}

export interface SnapshotInfo {
  readonly name: string;
  readonly description?: string;
  readonly snaptime?: number;
  readonly parent?: string;
}

/** `GET .../agent/exec-status`. */
export interface AgentExecStatus {
  readonly exited: boolean;
  readonly exitcode?: number;
  readonly signal?: number;
  readonly outData: string;
  readonly errData: string;
  readonly outTruncated: boolean;
  readonly errTruncated: boolean;
}

const obj = (value: unknown, what: string): Record<string, unknown> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PveProtocolError(`${what} is not an object`);
  }
  return value as Record<string, unknown>;
};
const list = (value: unknown, what: string): unknown[] => {
  if (!Array.isArray(value)) throw new PveProtocolError(`${what} is not a list`);
  return value;
};
/** Perl booleans: 1/0, "1"/"0", true/false; absent → false. */
export const pveBool = (value: unknown): boolean => value === 1 || value === true || value === '1';
const int = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
};
const num = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const opt = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

export function parseClusterGuests(data: unknown): ClusterGuest[] {
  const out: ClusterGuest[] = [];
  for (const [i, item] of list(data, 'cluster resources').entries()) {
    const r = obj(item, `cluster resource ${i}`);
    if (r.type !== 'lxc' && r.type !== 'qemu') continue; // type=vm should give only these
    const vmid = int(r.vmid);
    const node = str(r.node);
    if (vmid === undefined || node === undefined) {
      throw new PveProtocolError(`cluster resource ${String(r.id)} has no vmid or node`);
    }
    out.push({
      vmid,
      type: r.type,
      node,
      status: str(r.status) ?? 'unknown',
      ...opt('name', str(r.name)),
      template: pveBool(r.template),
      ...opt('lock', str(r.lock)),
      ...opt('maxmem', num(r.maxmem)),
      ...opt('mem', num(r.mem)),
      ...opt('maxdisk', num(r.maxdisk)),
    });
  }
  return out.sort((a, b) => a.vmid - b.vmid);
}

export function parseNodes(data: unknown): PveNode[] {
  return list(data, 'node list')
    .map((item, i) => {
      const r = obj(item, `node ${i}`);
      const node = str(r.node);
      if (node === undefined) throw new PveProtocolError(`node ${i} has no name`);
      const status = r.status === 'online' || r.status === 'offline' ? r.status : 'unknown';
      return {
        node,
        status,
        ...opt('maxmem', num(r.maxmem)),
        ...opt('mem', num(r.mem)),
        ...opt('maxcpu', num(r.maxcpu)),
        ...opt('sslFingerprint', str(r.ssl_fingerprint)),
      } satisfies PveNode;
    })
    .sort((a, b) => a.node.localeCompare(b.node));
}

export function parseGuestConfig(data: unknown): GuestConfig {
  const r = obj(data, 'guest config');
  const digest = str(r.digest);
  if (digest === undefined || !/^[0-9a-f]{40}$/i.test(digest)) {
    throw new PveProtocolError('guest config has no SHA-1 digest');
  }
  const values: Record<string, PveConfigValue> = {};
  for (const [key, value] of Object.entries(r)) {
    if (key === 'digest') continue;
    if (
      typeof value === 'string' ||
      typeof value === 'number' ||
      typeof value === 'boolean' ||
      Array.isArray(value)
    ) {
      values[key] = value;
    }
  }
  return { digest, values };
}

export function parseSnapshots(data: unknown): SnapshotInfo[] {
  return list(data, 'snapshot list')
    .map((item, i) => obj(item, `snapshot ${i}`))
    .filter((r) => r.name !== 'current') // "current" is the live state, not a snapshot
    .map((r) => ({
      name: String(r.name),
      ...opt('description', str(r.description)),
      ...opt('snaptime', int(r.snaptime)),
      ...opt('parent', str(r.parent)),
    }));
}

/** `/cluster/nextid` answers an integer, often as a string. */
export function parseVmid(data: unknown): number {
  const n = int(data);
  if (n === undefined || n < 100 || n > 999_999_999)
    throw new PveProtocolError(`not a VMID: ${JSON.stringify(data)}`);
  return n;
}

export function parseAgentPid(data: unknown): number {
  const pid = int(obj(data, 'agent exec answer').pid);
  if (pid === undefined) throw new PveProtocolError('agent exec answer has no pid');
  return pid;
}

export function parseAgentExecStatus(data: unknown): AgentExecStatus {
  const r = obj(data, 'agent exec status');
  const exitcode = int(r.exitcode);
  const signal = int(r.signal);
  return {
    exited: pveBool(r.exited),
    ...opt('exitcode', exitcode),
    ...opt('signal', signal),
    outData: str(r['out-data']) ?? '',
    errData: str(r['err-data']) ?? '',
    outTruncated: pveBool(r['out-truncated']),
    errTruncated: pveBool(r['err-truncated']),
  };
}

/** `GET .../agent/file-read` with decode=0: base64 content and whether more follows. */
export function parseAgentFileRead(data: unknown): { readonly bytes: Buffer; readonly truncated: boolean } {
  const r = obj(data, 'agent file-read answer');
  const content = str(r.content);
  if (content === undefined) throw new PveProtocolError('agent file-read answer has no content');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content))
    throw new PveProtocolError('agent file-read content is not base64');
  return { bytes: Buffer.from(content, 'base64'), truncated: pveBool(r.truncated) };
}
