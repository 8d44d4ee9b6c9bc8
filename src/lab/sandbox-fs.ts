import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  lchown,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { DriverError, NotFoundError } from '../drivers/errors.js';
import type { FileAttrs, FileRead } from '../drivers/hypervisor/types.js';
import { toHostId } from '../model/idmap.js';
import type { IdMap } from '../model/idmap.js';
import { checkGuestPath, hostPathOf, isInside, ROOTFS_DIRS } from './sandbox-paths.js';
import {
  groupId,
  guestOwnership,
  hostIdOf,
  parseGroup,
  parsePasswd,
  userId,
  type Accounts,
} from './sandbox-ids.js';

/**
 * The filesystem side of a sandbox (and of the lab host): a rootfs directory on the host whose files carry
 * HOST ids, translated through the guest's id map at the boundary — exactly what `pct push`/`pull` do on
 * an unprivileged container's mounted rootfs. Guest paths never escape the rootfs: ".." is refused and a
 * symlink is followed only while its target stays inside.
 */

/** A rootfs and the id map its files are seen through. */
export interface FileSpace {
  readonly rootfs: string;
  readonly idMap: IdMap;
  /** "CT 101", "host": names the space in messages. */
  readonly label: string;
}

const isMissing = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

async function rootOf(space: FileSpace): Promise<string> {
  try {
    return await realpath(space.rootfs);
  } catch (e) {
    if (isMissing(e)) throw new DriverError(`${space.label}: root filesystem ${space.rootfs} is missing`);
    throw e;
  }
}

function escapes(space: FileSpace, guestPath: string): DriverError {
  return new DriverError(`${space.label}: ${guestPath} resolves outside the guest's root filesystem`);
}

/** The host path of an existing guest path, symlinks resolved and checked; undefined when missing. */
async function resolveExisting(space: FileSpace, guestPath: string): Promise<string | undefined> {
  const root = await rootOf(space);
  let real: string;
  try {
    real = await realpath(hostPathOf(root, guestPath));
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  if (!isInside(root, real)) throw escapes(space, guestPath);
  return real;
}

/** The guest's own account databases; a rootfs without them has only numeric ids. */
export async function readAccounts(space: FileSpace): Promise<Accounts> {
  const text = async (p: string) => {
    const host = await resolveExisting(space, p);
    return host ? readFile(host, 'utf8') : '';
  };
  return { users: parsePasswd(await text('/etc/passwd')), groups: parseGroup(await text('/etc/group')) };
}

/** The host ids a guest's root owns: what new directories and the guest's own files are created as. */
export function guestRootIds(map: IdMap): { uid: number; gid: number } {
  return { uid: hostIdOf(map.uid, 0, 'uid'), gid: hostIdOf(map.gid, 0, 'gid') };
}

/**
 * Creates the missing parents of a guest path (owned by the guest's root, 0755, like `mkdir -p` run
 * inside) and returns the resolved host directory, checked to be inside the rootfs.
 */
async function ensureParent(space: FileSpace, guestPath: string): Promise<string> {
  const root = await rootOf(space);
  const owner = guestRootIds(space.idMap);
  let dir = root;
  for (const segment of guestPath.split('/').filter(Boolean).slice(0, -1)) {
    const next = join(dir, segment);
    let st;
    try {
      st = await lstat(next);
    } catch (e) {
      if (!isMissing(e)) throw e;
      await mkdir(next, { mode: 0o755 });
      await chown(next, owner.uid, owner.gid);
      dir = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      const real = await realpath(next).catch(() => undefined);
      if (real === undefined || !isInside(root, real)) throw escapes(space, guestPath);
      if (!(await stat(real)).isDirectory()) {
        throw new DriverError(`${space.label}: ${posix.dirname(guestPath)} is not a directory`);
      }
      dir = real;
    } else if (st.isDirectory()) {
      dir = next;
    } else {
      throw new DriverError(`${space.label}: ${posix.dirname(guestPath)} is not a directory`);
    }
  }
  return dir;
}

/**
 * Writes a file atomically with guest ownership: a temp file in the same directory, fchown to the HOST
 * ids the guest ids map to, fchmod (after chown, which clears set-id bits), fsync, rename.
 */
export async function writeSpaceFile(
  space: FileSpace,
  path: string,
  content: Uint8Array,
  attrs: FileAttrs,
): Promise<void> {
  const guestPath = checkGuestPath(path);
  if (!Number.isInteger(attrs.mode) || attrs.mode < 0 || attrs.mode > 0o7777) {
    throw new DriverError(`invalid file mode ${attrs.mode}`);
  }
  const accounts = await readAccounts(space);
  const uid = hostIdOf(space.idMap.uid, userId(accounts, attrs.owner), 'uid');
  const gid = hostIdOf(space.idMap.gid, groupId(accounts, attrs.group), 'gid');
  const dir = await ensureParent(space, guestPath);
  const target = join(dir, posix.basename(guestPath));
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new DriverError(`${space.label}: ${guestPath} is a directory`);
  const tmp = join(dir, `.${posix.basename(guestPath)}.phoenix-${randomBytes(6).toString('hex')}`);
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      await fh.writeFile(content);
      await fh.chown(uid, gid);
      await fh.chmod(attrs.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Opens a guest file for appending (a service's log), creating it as the guest's root with 0640 when
 * missing. The caller passes the descriptor to a child and closes its own copy.
 */
export async function openSpaceLog(space: FileSpace, path: string) {
  const guestPath = checkGuestPath(path);
  const dir = await ensureParent(space, guestPath);
  const target = join(dir, posix.basename(guestPath));
  const existed = (await lstat(target).catch(() => undefined)) !== undefined;
  const fh = await open(
    target,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o640,
  );
  if (!existed) {
    const root = guestRootIds(space.idMap);
    await fh.chown(root.uid, root.gid);
  }
  return fh;
}

/** The last `bytes` of a guest file as text ('' when missing): what a failed service said. */
export async function tailSpaceFile(space: FileSpace, path: string, bytes = 2048): Promise<string> {
  const read = await readSpaceFile(space, path).catch(() => undefined);
  if (!read) return '';
  return Buffer.from(read.content.subarray(Math.max(0, read.content.length - bytes))).toString('utf8');
}

/** Content and guest-side attributes of a file; undefined when it does not exist. */
export async function readSpaceFile(space: FileSpace, path: string): Promise<FileRead | undefined> {
  const guestPath = checkGuestPath(path);
  const host = await resolveExisting(space, guestPath);
  if (host === undefined) return undefined;
  const fh = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new DriverError(`${space.label}: ${guestPath} is not a regular file`);
    const content = new Uint8Array(await fh.readFile());
    const accounts = await readAccounts(space);
    return {
      content,
      attrs: { ...guestOwnership(space.idMap, accounts, st.uid, st.gid), mode: st.mode & 0o7777 },
    };
  } finally {
    await fh.close();
  }
}

/** Like `rm -f`: a missing file is success, so a retried removal converges; directories are refused. */
export async function removeSpaceFile(space: FileSpace, path: string): Promise<void> {
  const guestPath = checkGuestPath(path);
  const parent = await resolveExisting(space, posix.dirname(guestPath));
  if (parent === undefined) return;
  const target = join(parent, posix.basename(guestPath));
  const st = await lstat(target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) throw new DriverError(`${space.label}: ${guestPath} is a directory`);
  await unlink(target);
}

/** rename(2) of a file within one directory of the space; a missing source is an error, not a no-op. */
export async function renameSpaceFile(space: FileSpace, from: string, to: string): Promise<void> {
  const src = checkGuestPath(from);
  const dst = checkGuestPath(to);
  if (posix.dirname(src) !== posix.dirname(dst))
    throw new DriverError(`${space.label}: rename only within one directory (${src} → ${dst})`);
  const dir = await resolveExisting(space, posix.dirname(src));
  const st =
    dir === undefined ? undefined : await lstat(join(dir, posix.basename(src))).catch(() => undefined);
  if (dir === undefined || !st?.isFile()) throw new NotFoundError(`${space.label}: ${src}`);
  await rename(join(dir, posix.basename(src)), join(dir, posix.basename(dst)));
  await syncDir(dir);
}

/** What of the host's /etc a fresh rootfs starts with; `follow` copies link targets instead of links. */
const SKELETON_ETC: ReadonlyArray<{ name: string; follow: boolean }> = [
  { name: 'passwd', follow: true },
  { name: 'group', follow: true },
  { name: 'nsswitch.conf', follow: true },
  { name: 'hosts', follow: true },
  // Certificates must be real files: the host's /etc/ssl/certs links point into trees a reader outside the
  // sandbox would resolve against the host.
  { name: 'ssl', follow: true },
  { name: 'nginx', follow: true },
  // Links into /usr, which the sandbox sees bound from the host: kept as links.
  { name: 'alternatives', follow: false },
  { name: 'localtime', follow: false },
  { name: 'ld.so.cache', follow: true },
  { name: 'ld.so.conf', follow: true },
  { name: 'ld.so.conf.d', follow: true },
  { name: 'protocols', follow: true },
  { name: 'services', follow: true },
];

type IdShift = (hostUid: number, hostGid: number) => { uid: number; gid: number };

/**
 * Copies a host tree into a rootfs as a template's files would be: the ids it has on the host are taken
 * as guest ids and stored shifted (root:root becomes the guest's root). Sockets, fifos and devices are not
 * part of a skeleton; a dangling link being followed is skipped.
 */
async function copyShifted(src: string, dst: string, follow: boolean, shift: IdShift): Promise<void> {
  let st;
  try {
    st = follow ? await stat(src) : await lstat(src);
  } catch (e) {
    if (isMissing(e)) return;
    throw e;
  }
  const ids = shift(st.uid, st.gid);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dst);
    await lchown(dst, ids.uid, ids.gid);
    return;
  }
  if (st.isDirectory()) {
    await mkdir(dst);
    for (const name of await readdir(src)) await copyShifted(join(src, name), join(dst, name), follow, shift);
  } else if (st.isFile()) {
    await copyFile(src, dst);
  } else {
    return;
  }
  await chown(dst, ids.uid, ids.gid);
  await chmod(dst, st.mode & 0o7777);
}

/** Creates a fresh rootfs: the mount points and plain directories, and a copy of the host's basic /etc. */
export async function createSkeleton(rootfs: string, map: IdMap, hostname: string): Promise<void> {
  const root = guestRootIds(map);
  const shift: IdShift = (uid, gid) => ({
    uid: toHostId(map.uid, uid) ?? root.uid,
    gid: toHostId(map.gid, gid) ?? root.gid,
  });
  const made = async (path: string, mode: number) => {
    await mkdir(path);
    await chown(path, root.uid, root.gid);
    await chmod(path, mode);
  };
  await mkdir(dirname(rootfs), { recursive: true });
  await made(rootfs, 0o755);
  const hasNginx = (await lstat('/etc/nginx').catch(() => undefined)) !== undefined;
  // Parents first, each owned by the guest's root (mkdir -p would leave intermediate ones to host root).
  const dirs = [...ROOTFS_DIRS, ...(hasNginx ? ['var/lib/nginx', 'var/log/nginx'] : [])]
    .flatMap((d) => d.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/')))
    .filter((d, i, all) => all.indexOf(d) === i);
  for (const d of dirs) {
    const hostSide = await lstat(`/${d}`).catch(() => undefined);
    if (['lib', 'lib64', 'bin', 'sbin'].includes(d)) {
      // A merged-/usr host has these as links into /usr; the same links work inside once /usr is bound.
      if (hostSide === undefined) continue;
      if (hostSide.isSymbolicLink()) {
        await symlink(await readlink(`/${d}`), join(rootfs, d));
        await lchown(join(rootfs, d), root.uid, root.gid);
        continue;
      }
    }
    await made(join(rootfs, d), d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755);
  }
  const etc = await readdir('/etc');
  const entries = [
    ...SKELETON_ETC,
    ...etc.filter((n) => n.startsWith('ca-certificates')).map((name) => ({ name, follow: true })),
  ];
  for (const { name, follow } of entries) {
    if (!etc.includes(name)) continue;
    await copyShifted(join('/etc', name), join(rootfs, 'etc', name), follow, shift);
  }
  const hostnameFile = join(rootfs, 'etc/hostname');
  await writeFile(hostnameFile, `${hostname}\n`, { mode: 0o644 });
  await chown(hostnameFile, root.uid, root.gid);
}

/** Writes JSON atomically (temp file, fsync, rename): a crash never leaves a torn state file. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(value, null, 2) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw new DriverError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Makes a lab-owned directory traversable by shifted ids (o+x), so a guest's root can reach its rootfs. */
export async function ensureTraversable(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const st = await stat(dir);
  if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
  for (let d = dirname(dir); ; d = dirname(d)) {
    const mode = (await stat(d)).mode;
    if ((mode & 0o001) === 0) {
      throw new DriverError(
        `${d} is not searchable by others (mode ${(mode & 0o7777).toString(8)}): a guest's shifted root ` +
          `could not reach its root filesystem below it (chmod o+x it, or move the lab directory)`,
      );
    }
    if (d === dirname(d)) break;
  }
}

/** Mount points below `dir` in this process's mount namespace (the host's): never delete across them. */
export async function mountsBelow(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const decode = (p: string) =>
    p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(decode)
    .filter((p) => isInside(dir, p));
}
