import type { GuestKind, GuestSettings } from '../../hypervisor/types.js';
import { diskSizeGb, parseBool, parseIntStrict, parseOptionString } from './values.js';

/**
 * Proxmox guest configuration → Phoenix's comparable GuestSettings. Reads either the text of
 * /etc/pve/{lxc,qemu-server}/<vmid>.conf or `pct config` / `qm config` output (`key: value` lines), or the
 * object `GET /nodes/{node}/{lxc|qemu}/{vmid}/config` returns. Keys it does not know are ignored.
 */

export interface GuestConfig {
  /** Options of the current configuration (snapshot and pending sections are not part of it). */
  readonly options: Readonly<Record<string, string>>;
  /** Raw lxc.* lines, in file order (LXC only). */
  readonly lxc: ReadonlyArray<readonly [string, string]>;
  /** The config digest when present: config writes send it back so a concurrent change is detected. */
  readonly digest?: string;
  /** Snapshot section names, in file order (text form only). */
  readonly snapshots: readonly string[];
}

export function parseConfigText(text: string): GuestConfig {
  const options: Record<string, string> = {};
  const lxc: Array<[string, string]> = [];
  const snapshots: string[] = [];
  let main = true;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.startsWith('#')) continue;
    const section = /^\[([^\]]+)\]\s*$/.exec(line);
    if (section) {
      main = false;
      if (section[1] !== 'pve:pending' && !section[1]!.startsWith('special:')) snapshots.push(section[1]!);
      continue;
    }
    if (!main) continue;
    const raw1 = /^(lxc\.[a-z0-9_.-]+)(?::|\s*=)\s*(.*?)\s*$/.exec(line);
    if (raw1) {
      lxc.push([raw1[1]!, raw1[2]!]);
      continue;
    }
    const kv = /^([a-z][a-z0-9_-]*):\s*(.*?)\s*$/.exec(line);
    if (kv) options[kv[1]!] = kv[2]!;
  }
  return { options, lxc, digest: options.digest, snapshots };
}

/** The API object: numbers become strings; `lxc` is the array of [key, value] pairs the API returns. */
export function configFromApi(data: Readonly<Record<string, unknown>>): GuestConfig {
  const options: Record<string, string> = {};
  const lxc: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === 'lxc' && Array.isArray(v)) {
      for (const pair of v)
        if (Array.isArray(pair) && pair.length === 2) lxc.push([String(pair[0]), String(pair[1])]);
      continue;
    }
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      options[k] = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
  }
  return { options, lxc, digest: options.digest, snapshots: [] };
}

/** Proxmox's documented defaults for options left out of a config. */
const DEFAULT_MEMORY_MB = 512;
const DEFAULT_VM_CORES = 1;

export function parseGuestSettings(kind: GuestKind, input: GuestConfig | string): GuestSettings {
  const conf = typeof input === 'string' ? parseConfigText(input) : input;
  return kind === 'lxc' ? lxcSettings(conf.options) : qemuSettings(conf.options);
}

function boot(o: Readonly<Record<string, string>>) {
  const startup = o.startup !== undefined ? parseOptionString(o.startup) : undefined;
  // "startup: 3" is order 3 (order is the default key).
  const order = parseIntStrict(startup?.pairs.get('order') ?? startup?.first);
  return {
    onBoot: parseBool(o.onboot) ?? false,
    bootOrder: order ?? 0,
    bootDelaySeconds: parseIntStrict(startup?.pairs.get('up')) ?? 0,
  };
}

function nameservers(o: Readonly<Record<string, string>>): string[] | undefined {
  const list = o.nameserver?.split(/[\s,;]+/).filter(Boolean) ?? [];
  return list.length ? list : undefined;
}

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function lxcSettings(o: Readonly<Record<string, string>>): GuestSettings {
  const net = o.net0 !== undefined ? parseOptionString(o.net0).pairs : undefined;
  const rootfs = o.rootfs !== undefined ? parseOptionString(o.rootfs).pairs : undefined;
  const size = rootfs?.get('size');
  return clean({
    name: o.hostname ?? '',
    cores: parseIntStrict(o.cores),
    memoryMb: parseIntStrict(o.memory) ?? DEFAULT_MEMORY_MB,
    diskGb: size !== undefined ? diskSizeGb(size) : undefined,
    ip: net?.get('ip'),
    gateway: net?.get('gw'),
    mac: net?.get('hwaddr')?.toUpperCase(),
    nameservers: nameservers(o),
    ...boot(o),
    unprivileged: parseBool(o.unprivileged) ?? false,
  });
}

const NIC_MODELS = [
  'virtio',
  'e1000',
  'e1000e',
  'rtl8139',
  'vmxnet3',
  'ne2k_pci',
  'pcnet',
  'i82551',
  'i82557b',
  'i82559er',
  'ne2k_isa',
];
const DISK = /^(scsi|virtio|sata|ide)\d+$/;

function qemuSettings(o: Readonly<Record<string, string>>): GuestSettings {
  const net = o.net0 !== undefined ? parseOptionString(o.net0) : undefined;
  let mac = net?.pairs.get('macaddr');
  for (const m of NIC_MODELS) {
    const v = net?.pairs.get(m);
    if (v) mac = v;
  }
  const ip = o.ipconfig0 !== undefined ? parseOptionString(o.ipconfig0).pairs : undefined;
  const memory = o.memory !== undefined ? parseOptionString(o.memory) : undefined;
  const disk = bootDisk(o);
  const size = disk !== undefined ? parseOptionString(o[disk]!).pairs.get('size') : undefined;
  return clean({
    name: o.name ?? '',
    cores: parseIntStrict(o.cores) ?? DEFAULT_VM_CORES,
    memoryMb: parseIntStrict(memory?.pairs.get('current') ?? memory?.first) ?? DEFAULT_MEMORY_MB,
    diskGb: size !== undefined ? diskSizeGb(size) : undefined,
    ip: ip?.get('ip'),
    gateway: ip?.get('gw'),
    mac: mac?.toUpperCase(),
    nameservers: nameservers(o),
    ...boot(o),
  });
}

const isCdrom = (v: string | undefined) =>
  v === undefined || parseOptionString(v).pairs.get('media') === 'cdrom';

/** The boot disk: first disk of `boot: order=…`, else legacy `bootdisk`, else the first disk that is not a CD-ROM. */
export function bootDisk(o: Readonly<Record<string, string>>): string | undefined {
  const order = o.boot !== undefined ? parseOptionString(o.boot).pairs.get('order') : undefined;
  for (const d of order?.split(';') ?? []) if (DISK.test(d) && !isCdrom(o[d])) return d;
  if (o.bootdisk !== undefined && !isCdrom(o[o.bootdisk])) return o.bootdisk;
  return Object.keys(o)
    .filter((k) => DISK.test(k) && !isCdrom(o[k]))
    .sort()[0];
}

export interface SettingChange {
  readonly field: keyof GuestSettings;
  readonly from: unknown;
  readonly to: unknown;
}

/**
 * Fields whose declared value differs from the observed one (what `plan` shows as drift). A field the
 * declaration leaves unset is not managed. MACs compare case-insensitively.
 */
export function settingsDiff(want: GuestSettings, have: GuestSettings): SettingChange[] {
  const norm = (field: keyof GuestSettings, v: unknown) =>
    field === 'mac' && typeof v === 'string' ? v.toUpperCase() : v;
  const out: SettingChange[] = [];
  for (const field of Object.keys(want) as Array<keyof GuestSettings>) {
    const w = want[field];
    if (w === undefined) continue;
    const h = have[field];
    if (JSON.stringify(norm(field, w)) !== JSON.stringify(norm(field, h)))
      out.push({ field, from: h, to: w });
  }
  return out;
}
