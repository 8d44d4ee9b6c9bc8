import { DriverError } from '../../errors.js';

/** Validation of the values the wrappers put into argvs: a bad value is refused before anything runs. */

/** A Proxmox VMID (pve-vmid: 100 to 999999999). */
export function vmidArg(vmid: number): string {
  if (!Number.isInteger(vmid) || vmid < 100 || vmid > 999_999_999) {
    throw new DriverError(`invalid VMID: ${vmid}`);
  }
  return String(vmid);
}

/** An absolute path inside a guest (or on the node): no NUL, no newline, no `..` component. */
export function absPathArg(path: string, what = 'path'): string {
  if (!path.startsWith('/') || /[\0\n]/.test(path) || path.split('/').includes('..')) {
    throw new DriverError(`invalid ${what}: ${JSON.stringify(path)}`);
  }
  return path;
}

/** A user or group as pct push takes it: a decimal id, or a name that exists inside the container. */
export function ownerArg(owner: string | number, what: 'user' | 'group'): string {
  if (typeof owner === 'number') {
    if (!Number.isInteger(owner) || owner < 0 || owner > 0xfffffffe)
      throw new DriverError(`invalid ${what} id: ${owner}`);
    return String(owner);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(owner))
    throw new DriverError(`invalid ${what} name: ${owner}`);
  return owner;
}

/** A file mode as octal digits with a leading 0 (pct treats the value as octal). */
export function permsArg(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new DriverError(`invalid file mode: ${mode}`);
  return `0${mode.toString(8)}`;
}

/** A Proxmox node name (pve-node: a DNS label). */
export function nodeArg(node: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(node)) {
    throw new DriverError(`invalid node name: ${JSON.stringify(node)}`);
  }
  return node;
}
