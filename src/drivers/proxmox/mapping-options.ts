import type { Inventory } from '../../model/inventory.js';
import type { LxcOptions } from './config/lxc.js';
import type { QemuOptions } from './config/qemu.js';

/**
 * What the pure config mapping needs to know about the host beyond one guest, derived from the hypervisor
 * file: where dir storages live (a template path under `<dir>/template/cache/` becomes `<id>:vztmpl/<file>`),
 * which storage holds cloud images, the default bridge, the default LXC features. A dataset's storage id is
 * the `proxmox_storage_ids` value equal to `<pool>-<dataset>` and its directory ZFS's default mountpoint
 * `/<pool>/<dataset>`. Options given to the driver explicitly take precedence.
 */
export interface MappingOptions {
  readonly lxc: LxcOptions;
  readonly qemu: QemuOptions;
}

export function mappingFromInventory(inv: Inventory): MappingOptions {
  const h = inv.hypervisor;
  const ids = new Set(Object.values(h.proxmox_storage_ids ?? {}));
  const storagePaths: Record<string, string> = {};
  let imageStorage: string | undefined;
  for (const d of h.zfs?.datasets ?? []) {
    const id = `${d.pool}-${d.name}`;
    if (d.proxmox_storage_type !== 'dir' || !ids.has(id)) continue;
    storagePaths[id] = `/${d.pool}/${d.name}`;
    const content = d.proxmox_content_type.split(',');
    if (content.includes('import') || (imageStorage === undefined && content.includes('iso')))
      imageStorage = id;
  }
  const bridge = h.network?.interfaces?.name;
  const features = h.proxmox_defaults?.lxc?.features;
  // The administrative user's key reaches every VM through cloud-init, next to a VM's own user's key.
  const adminKey = h.users?.ssh_public_key;
  return {
    lxc: { storagePaths, ...(features ? { defaultFeatures: features } : {}) },
    qemu: {
      ...(bridge ? { bridge } : {}),
      ...(imageStorage ? { imageStorage } : {}),
      ...(adminKey ? { sshKeys: [adminKey] } : {}),
    },
  };
}
