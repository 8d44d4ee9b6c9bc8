import { PveProtocolError } from './errors.js';

/**
 * Proxmox task ids (pure). Every asynchronous API call answers with a UPID:
 * `UPID:node:pid:pstart:starttime:type:id:user:` — pid, pstart and starttime in hex (8, 8–9 and 8
 * digits), `id` possibly empty (e.g. the guest's VMID, or nothing), `user` the user or token that started
 * it ("root@pam", "phoenix@pve!sync").
 */

export interface Upid {
  readonly upid: string;
  readonly node: string;
  readonly pid: number;
  readonly pstart: number;
  /** Unix seconds. */
  readonly starttime: number;
  /** "qmstart", "vzcreate", "qmclone", ... */
  readonly type: string;
  readonly id: string;
  readonly user: string;
}

const UPID =
  /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

export function parseUpid(text: string): Upid {
  const m = UPID.exec(text);
  if (!m) throw new PveProtocolError(`not a Proxmox task id (UPID): ${JSON.stringify(text.slice(0, 200))}`);
  return {
    upid: text,
    node: m[1]!,
    pid: parseInt(m[2]!, 16),
    pstart: parseInt(m[3]!, 16),
    starttime: parseInt(m[4]!, 16),
    type: m[5]!,
    id: m[6]!,
    user: m[7]!,
  };
}

export function isUpid(value: unknown): value is string {
  return typeof value === 'string' && UPID.test(value);
}

/** Builds a UPID (the emulator uses it; also handy in tests). */
export function formatUpid(u: Omit<Upid, 'upid'>): string {
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
  return `UPID:${u.node}:${hex(u.pid, 8)}:${hex(u.pstart, 8)}:${hex(u.starttime, 8)}:${u.type}:${u.id}:${u.user}:`;
}
