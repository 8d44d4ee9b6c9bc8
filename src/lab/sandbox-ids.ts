import { DriverError } from '../drivers/errors.js';
import { toContainerId, toHostId } from '../model/idmap.js';
import type { IdMap, IdRange } from '../model/idmap.js';

/**
 * Pure id work of a sandbox: the guest's own /etc/passwd and /etc/group (names resolve inside the guest,
 * never through the host's NSS) and the translation between guest and host ids through the guest's map.
 */

/** What an unmapped host id looks like inside a user namespace (the kernel's overflow id). */
export const OVERFLOW_ID = 65534;

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** The guest's account databases, as read from its rootfs. */
export interface Accounts {
  readonly users: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
}

const ID = /^\d+$/;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !ID.test(f[2]!) || !ID.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !ID.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter((m) => m !== '') });
  }
  return out;
}

/** A numeric id as given, or the id of a name; chown's message when the name is unknown. */
function lookup(kind: 'user' | 'group', spec: string | number, byName: (name: string) => number | undefined) {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec) || spec < 0 || spec > 0xfffffffe) {
      throw new DriverError(`invalid ${kind} id ${spec}`);
    }
    return spec;
  }
  if (ID.test(spec)) return Number(spec);
  const id = byName(spec);
  if (id === undefined) throw new DriverError(`chown: invalid ${kind}: '${spec}'`);
  return id;
}

export function userId(accounts: Accounts, spec: string | number): number {
  return lookup('user', spec, (name) => accounts.users.find((u) => u.name === name)?.uid);
}

export function groupId(accounts: Accounts, spec: string | number): number {
  return lookup('group', spec, (name) => accounts.groups.find((g) => g.name === name)?.gid);
}

/** Credentials a process runs with inside the guest, as `runuser -u USER` would set them. */
export interface Credentials {
  readonly uid: number;
  readonly gid: number;
  /** Primary group first, then every group that lists the user as a member. */
  readonly groups: readonly number[];
  readonly name: string;
  readonly home: string;
}

/** Resolves a user (name or id) through the guest's own account databases. */
export function credentials(accounts: Accounts, user: string | number = 0): Credentials {
  const byName = typeof user === 'string' && !ID.test(user);
  const entry = byName
    ? accounts.users.find((u) => u.name === user)
    : accounts.users.find((u) => u.uid === Number(user));
  if (byName && !entry) throw new DriverError(`runuser: user ${user} does not exist`);
  const uid = entry?.uid ?? userId(accounts, user);
  // A numeric id with no passwd entry still runs, as `setpriv --reuid` would, in the group of the same id.
  const gid = entry?.gid ?? uid;
  const name = entry?.name ?? String(uid);
  const extra = accounts.groups.filter((g) => g.members.includes(name)).map((g) => g.gid);
  return {
    uid,
    gid,
    groups: [...new Set([gid, ...extra])],
    name,
    home: entry?.home ?? '/',
  };
}

/** The host id a guest id is stored as; an unmapped one cannot be written from inside either. */
export function hostIdOf(ranges: readonly IdRange[], guestId: number, what: string): number {
  const host = toHostId(ranges, guestId);
  if (host === undefined) throw new DriverError(`${what} ${guestId} is not mapped into the guest`);
  return host;
}

/** The ownership a host uid/gid pair shows inside the guest: names where the guest has them, like stat. */
export function guestOwnership(
  map: IdMap,
  accounts: Accounts,
  hostUid: number,
  hostGid: number,
): { owner: string | number; group: string | number } {
  const uid = toContainerId(map.uid, hostUid) ?? OVERFLOW_ID;
  const gid = toContainerId(map.gid, hostGid) ?? OVERFLOW_ID;
  return {
    owner: accounts.users.find((u) => u.uid === uid)?.name ?? uid,
    group: accounts.groups.find((g) => g.gid === gid)?.name ?? gid,
  };
}
