import type { ClusterModel, GuestType } from './model.js';

/**
 * What Proxmox makes of the create and clone parameters before it stores them, so the config read back has
 * the shape a real one has (pve-container's and qemu-server's create/clone code): a new disk `STORAGE:SIZE`
 * is allocated as `STORAGE:vm-<vmid>-disk-<n>,size=<SIZE>G`; `import-from` gets the image's virtual size;
 * a cloud-init drive becomes `STORAGE:vm-<vmid>-cloudinit,media=cdrom`; a NIC without a MAC gets a
 * generated one; a clone's volumes are renamed to the new id (copied, or moved to `storage` for a full
 * clone), its NICs get new MACs, and it is not a template.
 */

const DISK = /^(rootfs|mp\d+|scsi\d+|virtio\d+|sata\d+|ide\d+|efidisk0|tpmstate0)$/;
const GiB = 2 ** 30;

const sizeText = (bytes: number) =>
  bytes % GiB === 0 ? `${bytes / GiB}G` : `${Math.ceil(bytes / 2 ** 20)}M`;

export function provisionCreate(
  model: ClusterModel,
  type: GuestType,
  vmid: number,
  config: Record<string, string>,
): void {
  let n = 0;
  for (const key of Object.keys(config)
    .filter((k) => DISK.test(k))
    .sort()) {
    const value = config[key]!;
    const [volume, ...rest] = value.split(',');
    const alloc = /^([^:/]+):(\d+(?:\.\d+)?)$/.exec(volume ?? '');
    const cloudinit = /^([^:/]+):cloudinit$/.exec(volume ?? '');
    if (cloudinit) {
      config[key] = `${cloudinit[1]}:vm-${vmid}-cloudinit,media=cdrom`;
    } else if (alloc) {
      const imported = rest.find((r) => r.startsWith('import-from='));
      const bytes = imported ? model.importedImageBytes : Number(alloc[2]) * GiB;
      const kept = rest.filter((r) => !r.startsWith('import-from=') && !r.startsWith('size='));
      config[key] = [`${alloc[1]}:vm-${vmid}-disk-${n++}`, ...kept, `size=${sizeText(bytes)}`].join(',');
    }
  }
  if (type === 'lxc') config.rootfs ??= `local-lvm:vm-${vmid}-disk-0,size=8G`;
  newMacs(model, type, config, false);
}

export function provisionClone(
  model: ClusterModel,
  type: GuestType,
  source: { vmid: number; config: Record<string, string> },
  newid: number,
  opts: { name?: string; storage?: string; full: boolean },
): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(source.config)) {
    if (key === 'template') continue;
    if (DISK.test(key) && !/^\//.test(value) && !/media=cdrom/.test(value)) {
      let v = value.replace(new RegExp(`vm-${source.vmid}-`, 'g'), `vm-${newid}-`);
      if (opts.full && opts.storage !== undefined) v = v.replace(/^[^:]+:/, `${opts.storage}:`);
      config[key] = v;
    } else if (/media=cdrom/.test(value)) {
      config[key] = value.replace(new RegExp(`vm-${source.vmid}-`, 'g'), `vm-${newid}-`);
    } else config[key] = value;
  }
  if (opts.name !== undefined) config[type === 'lxc' ? 'hostname' : 'name'] = opts.name;
  newMacs(model, type, config, true);
  return config;
}

/** NICs without a MAC get one; on a clone every NIC gets a new one. */
function newMacs(model: ClusterModel, type: GuestType, config: Record<string, string>, all: boolean): void {
  for (const key of Object.keys(config).filter((k) => /^net\d+$/.test(k))) {
    const parts = config[key]!.split(',');
    if (type === 'lxc') {
      const at = parts.findIndex((p) => p.startsWith('hwaddr='));
      if (at >= 0 && !all) continue;
      if (at >= 0) parts[at] = `hwaddr=${model.newMac()}`;
      else parts.push(`hwaddr=${model.newMac()}`);
    } else {
      const m = /^([a-z0-9_]+)(?:=([0-9A-Fa-f:]+))?$/.exec(parts[0] ?? '');
      if (!m || (m[2] !== undefined && !all)) continue;
      parts[0] = `${m[1]}=${model.newMac()}`;
    }
    config[key] = parts.join(',');
  }
}
