import { DriverError } from '../errors.js';
import type { GuestSettings } from '../hypervisor/types.js';
import type { Guest } from '../../model/inventory.js';
import type { PveApi } from './api/client.js';
import { getGuestConfig, updateGuestConfig } from './api/resources.js';
import type { CallOptions, GuestAddress } from './api/resources.js';
import { lxcConfigParams } from './config/lxc.js';
import { qemuConfigParams } from './config/qemu.js';
import { growRootDisk } from './disk.js';
import type { MappingOptions } from './mapping-options.js';

/**
 * updateGuest: the changed settings are applied to the declared guest (so options the settings do not
 * carry, such as the bridge or firewall flag of net0, come from the configuration), mapped to Proxmox
 * options, and only the options those settings live in are written: GET config (with its digest) → PUT
 * the options that differ, with the digest. A concurrent change is a ConcurrentChange error from the API,
 * never an overwrite. The disk grows through its own call.
 */

type Field = keyof GuestSettings;
const OPTIONS: Record<Exclude<Field, 'diskGb' | 'unprivileged'>, { lxc: string[]; vm: string[] }> = {
  name: { lxc: ['hostname'], vm: ['name'] },
  cores: { lxc: ['cores'], vm: ['cores'] },
  memoryMb: { lxc: ['memory'], vm: ['memory'] },
  ip: { lxc: ['net0'], vm: ['ipconfig0'] },
  gateway: { lxc: ['net0'], vm: ['ipconfig0'] },
  mac: { lxc: ['net0'], vm: ['net0'] },
  nameservers: { lxc: ['nameserver'], vm: ['nameserver'] },
  onBoot: { lxc: ['onboot'], vm: ['onboot'] },
  bootOrder: { lxc: ['startup'], vm: ['startup'] },
  bootDelaySeconds: { lxc: ['startup'], vm: ['startup'] },
};

/** The declared guest with the changed settings in place. */
export function patchGuest(g: Guest, c: Partial<GuestSettings>): Guest {
  let ip = g.ip;
  let prefixLength = g.prefixLength;
  if (c.ip !== undefined) {
    const [address, prefix] = c.ip === 'dhcp' ? [undefined, undefined] : c.ip.split('/');
    ip = address;
    prefixLength = prefix === undefined ? undefined : Number(prefix);
  }
  return {
    ...g,
    name: c.name ?? g.name,
    ip,
    prefixLength,
    gateway: c.gateway ?? g.gateway,
    mac: c.mac ?? g.mac,
    nameservers: c.nameservers ?? g.nameservers,
    boot: {
      onBoot: c.onBoot ?? g.boot.onBoot,
      order: c.bootOrder ?? g.boot.order,
      delaySeconds: c.bootDelaySeconds ?? g.boot.delaySeconds,
    },
    resources: {
      ...g.resources,
      cores: c.cores ?? g.resources.cores,
      memoryMb: c.memoryMb ?? g.resources.memoryMb,
      diskGb: c.diskGb ?? g.resources.diskGb,
    },
  } as Guest;
}

export function configParamsOf(g: Guest, mapping: MappingOptions): Record<string, string> {
  return g.kind === 'lxc' ? lxcConfigParams(g, mapping.lxc) : qemuConfigParams(g, mapping.qemu);
}

export async function updateSettings(
  api: PveApi,
  addr: GuestAddress,
  g: Guest,
  changes: Partial<GuestSettings>,
  mapping: MappingOptions,
  call: CallOptions,
): Promise<void> {
  if (changes.unprivileged !== undefined && changes.unprivileged !== (g.kind === 'lxc' && g.unprivileged))
    throw new DriverError("unable to modify read-only option: 'unprivileged'");
  const want = configParamsOf(patchGuest(g, changes), mapping);
  const keys = new Set<string>();
  for (const field of Object.keys(changes) as Field[]) {
    if (field === 'diskGb' || field === 'unprivileged' || changes[field] === undefined) continue;
    for (const k of OPTIONS[field][g.kind]) keys.add(k);
  }
  if (keys.size > 0) {
    const conf = await getGuestConfig(api, addr, call);
    const set: Record<string, string> = {};
    const remove: string[] = [];
    for (const k of keys) {
      const have = conf.values[k];
      if (want[k] === undefined) {
        if (have !== undefined) remove.push(k);
      } else if (String(have) !== want[k]) set[k] = want[k];
    }
    if (Object.keys(set).length || remove.length)
      await updateGuestConfig(api, addr, { set, delete: remove, digest: conf.digest }, call);
  }
  if (changes.diskGb !== undefined) await growRootDisk(api, addr, g.kind, changes.diskGb, call);
}
