import type { Origin } from '../../../config/diagnostics.js';
import { joinPointer } from '../../../config/diagnostics.js';
import type { VmGuest } from '../../../model/inventory.js';
import { addressOf, bootParams, nameserverOption } from './common.js';
import { ProxmoxConfigError } from './errors.js';
import type { ResizePlan } from './resize.js';
import { diskResizePlan } from './resize.js';
import { checkDnsName, checkValue, optionString } from './values.js';

/**
 * VM guest → Proxmox QEMU options: the parameters of `POST /nodes/{node}/qemu` and `qm create` (same names),
 * of `POST …/qemu/{vmid}/clone` and of `PUT …/qemu/{vmid}/config`. Cloud-init carries the network and the
 * user. Pure.
 */

export interface QemuOptions {
  /** Storage for disks; defaults to the VM's storage_pool (with vm_defaults applied). */
  readonly storage?: string;
  /** Bridge when the VM declares none (vm_defaults.network_bridge is not in the inventory model). */
  readonly bridge?: string;
  /** Volume or path of the cloud image imported as the boot disk (`import-from`); creation only. */
  readonly importFrom?: string;
  /** Storage holding cloud images (content "import"): `importFrom` defaults to `<it>:import/<template_image>`. */
  readonly imageStorage?: string;
  /** Extra OpenSSH public keys for the cloud-init user (the hypervisor's users.ssh_public_key, say). */
  readonly sshKeys?: readonly string[];
  /** Size of the imported image in GiB when known (the resize plan starts from it). */
  readonly importedDiskGb?: number;
}

export const BOOT_DISK = 'scsi0';

export interface QemuPlan {
  readonly params: Record<string, string>;
  /** Growth of the boot disk after import (the cloud image is small). */
  readonly resize: ResizePlan;
  /** NFS volumes, as /etc/fstab lines for the driver to install inside the VM. */
  readonly fstab: readonly FstabEntry[];
}

export interface QemuClonePlan {
  /** `POST /nodes/{node}/qemu/{source}/clone` (`qm clone <source> <newid>` options). */
  readonly clone: Record<string, string>;
  /** `PUT /nodes/{node}/qemu/{newid}/config` (`qm set`) after the clone. */
  readonly config: Record<string, string>;
  readonly resize: ResizePlan;
  readonly fstab: readonly FstabEntry[];
}

const at = (g: VmGuest, ...seg: Array<string | number>): Origin => ({
  file: g.origin.file,
  pointer: joinPointer(g.origin.pointer, ...seg),
});
const NO_COLON: ReadonlyArray<readonly [RegExp, string]> = [[/:/, 'a colon']];

/** Options `PUT …/config` can set; used after a clone and to converge drift. */
export function qemuConfigParams(g: VmGuest, opts: QemuOptions = {}): Record<string, string> {
  const params: Record<string, string> = {
    name: checkDnsName(g.name, { origin: at(g, 'name'), option: 'name', what: 'name' }),
  };
  if (g.resources.cores !== undefined) params.cores = String(g.resources.cores);
  if (g.resources.memoryMb !== undefined) params.memory = String(g.resources.memoryMb);
  params.net0 = net0(g, opts);
  const ip = ipconfig0(g);
  if (ip !== undefined) params.ipconfig0 = ip;
  const ns = nameserverOption(g);
  if (ns !== undefined) params.nameserver = ns;
  const user = g.config.user_config;
  if (user)
    params.ciuser = checkValue(user.username, {
      origin: at(g, 'user_config', 'username'),
      option: 'ciuser',
      what: 'user name',
    });
  const keys = sshKeys(g, opts);
  if (keys !== undefined) params.sshkeys = keys;
  params.agent = '1';
  Object.assign(params, bootParams(g));
  return params;
}

export function qemuCreateParams(g: VmGuest, opts: QemuOptions = {}): QemuPlan {
  const storage = storageOf(g, opts);
  const image = importFrom(g, opts);
  const params: Record<string, string> = {
    vmid: String(g.id),
    ostype: 'l26',
    scsihw: 'virtio-scsi-pci',
    [BOOT_DISK]: `${storage}:0,import-from=${image}`,
    ide2: `${storage}:cloudinit`,
    boot: `order=${BOOT_DISK}`,
    serial0: 'socket',
    vga: 'serial0',
    ...qemuConfigParams(g, opts),
  };
  return {
    params,
    resize: diskResizePlan(BOOT_DISK, g.resources.diskGb, opts.importedDiskGb),
    fstab: nfsFstabEntries(g),
  };
}

export interface QemuCloneOptions extends QemuOptions {
  /** Whether the source is a Proxmox template; defaults to its declaration (is_template). */
  readonly sourceIsTemplate?: boolean;
  readonly full?: boolean;
  /** The source's boot disk size (GiB) as observed; defaults to its declared size. */
  readonly sourceDiskGb?: number;
}

export function qemuCloneParams(g: VmGuest, source: VmGuest, opts: QemuCloneOptions = {}): QemuClonePlan {
  const isTemplate = opts.sourceIsTemplate ?? source.isTemplate;
  const full = opts.full ?? !isTemplate;
  const origin = at(g, 'clone_from_vmid');
  if (!full && !isTemplate)
    throw new ProxmoxConfigError(
      origin,
      'clone',
      `a linked clone needs a template source; VM ${source.id} is not a template`,
    );
  const clone: Record<string, string> = {
    newid: String(g.id),
    name: checkDnsName(g.name, { origin: at(g, 'name'), option: 'name', what: 'name' }),
    full: full ? '1' : '0',
  };
  if (source.snapshotName !== undefined)
    clone.snapname = checkValue(source.snapshotName, {
      origin: source.origin,
      option: 'snapname',
      what: 'snapshot name',
    });
  // Proxmox: "parameter 'storage' not allowed for linked clones".
  if (full && (opts.storage ?? g.resources.storage) !== undefined) clone.storage = storageOf(g, opts);
  return {
    clone,
    config: qemuConfigParams(g, opts),
    resize: diskResizePlan(BOOT_DISK, g.resources.diskGb, opts.sourceDiskGb ?? source.resources.diskGb),
    fstab: nfsFstabEntries(g),
  };
}

function storageOf(g: VmGuest, opts: QemuOptions): string {
  const s = opts.storage ?? g.resources.storage;
  if (s === undefined)
    throw new ProxmoxConfigError(at(g, 'storage_pool'), BOOT_DISK, 'no storage is declared');
  return checkValue(s, { origin: at(g, 'storage_pool'), option: BOOT_DISK, what: 'storage id' }, NO_COLON);
}

function importFrom(g: VmGuest, opts: QemuOptions): string {
  const image = g.config.template_image;
  const v =
    opts.importFrom ??
    (image !== undefined && opts.imageStorage !== undefined
      ? `${opts.imageStorage}:import/${image}`
      : undefined);
  if (v === undefined)
    throw new ProxmoxConfigError(
      at(g, image !== undefined ? 'template_image' : 'clone_from_vmid'),
      BOOT_DISK,
      image !== undefined
        ? `the cloud image ${image} has no known volume (pass importFrom or imageStorage)`
        : `VM ${g.id} has neither template_image nor clone_from_vmid, so there is nothing to create its disk from`,
    );
  return checkValue(v, { origin: at(g, 'template_image'), option: BOOT_DISK, what: 'image volume' });
}

/** `virtio=<MAC>,bridge=<bridge>[,firewall=1]` (the form Proxmox stores), or `virtio,bridge=…` to let it pick a MAC. */
function net0(g: VmGuest, opts: QemuOptions): string {
  const bridge = g.config.network_bridge ?? opts.bridge;
  if (bridge === undefined)
    throw new ProxmoxConfigError(
      at(g, 'network_bridge'),
      'net0',
      'no bridge is declared (network_bridge or vm_defaults)',
    );
  const ctx = (what: string) => ({ origin: at(g, 'network_bridge'), option: 'net0', what });
  const model =
    g.mac !== undefined
      ? `virtio=${checkValue(g.mac.toUpperCase(), { origin: at(g, 'mac_address'), option: 'net0', what: 'MAC address' })}`
      : 'virtio';
  return optionString([
    model,
    `bridge=${checkValue(bridge, ctx('bridge'))}`,
    g.firewall.enabled ? 'firewall=1' : undefined,
  ]);
}

/** Cloud-init network: `ip=10.0.0.111/24,gw=10.0.0.1` or `ip=dhcp`. */
function ipconfig0(g: VmGuest): string | undefined {
  const address = addressOf(g);
  if (address === undefined) return undefined;
  const o = at(g, 'network_config');
  return optionString([
    `ip=${checkValue(address, { origin: o, option: 'ipconfig0', what: 'address' })}`,
    g.gateway !== undefined && address !== 'dhcp'
      ? `gw=${checkValue(g.gateway, { origin: o, option: 'ipconfig0', what: 'gateway' })}`
      : undefined,
  ]);
}

const SSH_KEY =
  /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\r\n]*)?$/;

/**
 * `sshkeys`: the public keys, one per line, URL-encoded as Proxmox requires (its `urlencoded` format accepts
 * only `[-%a-zA-Z0-9_.!~*'()]`, which is exactly what encodeURIComponent produces; spaces become %20, not +).
 */
function sshKeys(g: VmGuest, opts: QemuOptions): string | undefined {
  const own = g.config.user_config?.ssh_public_key;
  const keys = [...(own ? [own] : []), ...(opts.sshKeys ?? [])].map((k) => k.trim()).filter(Boolean);
  if (!keys.length) return undefined;
  keys.forEach((k) => {
    if (!SSH_KEY.test(k))
      throw new ProxmoxConfigError(
        at(g, 'user_config', 'ssh_public_key'),
        'sshkeys',
        `${JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k)} is not one OpenSSH public key line ("<type> <base64> [comment]")`,
      );
  });
  return encodeSshKeys([...new Set(keys)]);
}

export function encodeSshKeys(keys: readonly string[]): string {
  return encodeURIComponent(keys.join('\n'));
}

export function decodeSshKeys(value: string): string[] {
  return decodeURIComponent(value).split('\n').filter(Boolean);
}

export interface FstabEntry {
  /** The /etc/fstab line, fields separated by a space. */
  readonly line: string;
  readonly mountPoint: string;
  readonly origin: Origin;
}

const FSTAB_FIELD: ReadonlyArray<readonly [RegExp, string]> = [[/#/, 'a "#" (a comment in fstab)']];
const DEFAULT_NFS_OPTIONS = 'defaults,_netdev';

/** `server:/export /mount/point nfs <options> 0 0` for each NFS volume; `_netdev` waits for the network. */
export function nfsFstabEntries(g: VmGuest): FstabEntry[] {
  return (g.config.volumes ?? []).map((v, i) => {
    const origin = at(g, 'volumes', i);
    const field = (value: string, what: string) => {
      if (!value || /\s/.test(value) || FSTAB_FIELD.some(([re]) => re.test(value)))
        throw new ProxmoxConfigError(
          origin,
          'fstab',
          `${what} ${JSON.stringify(value)} cannot be an fstab field (no whitespace or "#", not empty)`,
        );
      return value;
    };
    const options = v.options?.trim() ? v.options.trim() : DEFAULT_NFS_OPTIONS;
    return {
      line: [
        `${field(v.server, 'server')}:${field(v.path, 'export path')}`,
        field(v.mount_point, 'mount point'),
        'nfs',
        field(options, 'options'),
        '0',
        '0',
      ].join(' '),
      mountPoint: v.mount_point,
      origin,
    };
  });
}

/** Installs entries into an fstab text: lines for the same mount points are replaced, others kept. Pure. */
export function mergeFstab(text: string, entries: readonly FstabEntry[]): string {
  const points = new Set(entries.map((e) => e.mountPoint));
  const kept = text.split('\n').filter((l) => {
    const fields = l.trim().split(/\s+/);
    return l.trim().startsWith('#') || fields.length < 2 || !points.has(fields[1]!);
  });
  while (kept.length && kept[kept.length - 1]!.trim() === '') kept.pop();
  return `${[...kept, ...entries.map((e) => e.line)].join('\n')}\n`;
}
