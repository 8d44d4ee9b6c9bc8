import { DriverError } from '../errors.js';
import type { GuestKind } from '../hypervisor/types.js';
import type { PveApi } from './api/client.js';
import { getGuestConfig, resizeDisk } from './api/resources.js';
import type { CallOptions, GuestAddress } from './api/resources.js';
import { bootDisk, configFromApi, parseGuestSettings } from './config/parse.js';
import { BOOT_DISK } from './config/qemu.js';
import { diskResizePlan } from './config/resize.js';

/**
 * Grows the root disk (LXC `rootfs`, the VM's boot disk) to the declared size, from the size read back
 * just now (a clone has its source's size, an imported cloud image its own). The resize carries the
 * config digest, and the size is absolute, so a retry never grows twice. A smaller declaration is refused
 * with the reason: Proxmox cannot shrink.
 */
export async function growRootDisk(
  api: PveApi,
  addr: GuestAddress,
  kind: GuestKind,
  wantGb: number | undefined,
  call: CallOptions,
): Promise<void> {
  const conf = await getGuestConfig(api, addr, call);
  const parsed = configFromApi(conf.values);
  const have = parseGuestSettings(kind, parsed).diskGb;
  const disk = kind === 'lxc' ? 'rootfs' : (bootDisk(parsed.options) ?? BOOT_DISK);
  const plan = diskResizePlan(disk, wantGb, have);
  if (plan.action === 'refuse') throw new DriverError(`guest ${addr.vmid}: ${plan.reason}`);
  if (plan.action === 'grow') await resizeDisk(api, addr, { ...plan.params, digest: conf.digest }, call);
}
