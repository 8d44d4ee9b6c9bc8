import { posix } from 'node:path';
import { DriverError } from '../drivers/errors.js';

/**
 * Pure path rules of a sandbox: how a guest path becomes a host path under the rootfs, and which guest
 * paths the driver must not touch through the host's view of the rootfs.
 */

/** Guest directories that are the host's own, bound read-only (or /dev, /proc) inside the sandbox. */
export const BOUND_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/dev', '/proc'] as const;

/** Empty mount points and plain directories every rootfs has; bound ones get the host's tree at start. */
export const ROOTFS_DIRS = [
  'tmp',
  'run',
  'var/log',
  'var/lib',
  'var/www',
  'usr',
  'lib',
  'lib64',
  'bin',
  'sbin',
  'dev',
  'proc',
  'etc',
  'root',
] as const;

/**
 * An absolute guest path without "." or ".." segments, normalised ("//" collapsed, no trailing "/"); the
 * same rule and message as the memory emulator, so both drivers refuse the same misuse alike.
 */
export function checkGuestPath(path: string): string {
  const segments = path.split('/').slice(1);
  if (!path.startsWith('/') || path.includes('\0') || segments.some((s) => s === '.' || s === '..')) {
    throw new DriverError(`invalid path "${path}": must be absolute without "." or ".." segments`);
  }
  const normal = posix.normalize(path).replace(/\/+$/, '');
  if (normal === '') throw new DriverError('invalid path "/": not a file');
  return normal;
}

/** The bound directory a guest path lies in, if any: its host-side view is an empty mount point. */
export function boundDirOf(guestPath: string): string | undefined {
  return BOUND_DIRS.find((d) => guestPath === d || guestPath.startsWith(`${d}/`));
}

/** True when `path` is `root` itself or below it (both absolute and already resolved). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** The host path of a (checked) guest path under a rootfs. */
export function hostPathOf(rootfs: string, guestPath: string): string {
  return posix.join(rootfs, guestPath);
}
