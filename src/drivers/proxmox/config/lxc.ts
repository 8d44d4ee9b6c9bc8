import type { Origin } from '../../../config/diagnostics.js';
import { joinPointer } from '../../../config/diagnostics.js';
import type { LxcGuest } from '../../../model/inventory.js';
import { addressOf, bootParams, nameserverOption } from './common.js';
import { ProxmoxConfigError } from './errors.js';
import type { RawLine, SubordinateIds } from './idmap.js';
import { hostOwner, idmapLines, subordinateIds } from './idmap.js';
import type { ResizePlan } from './resize.js';
import { diskResizePlan } from './resize.js';
import { checkDnsName, checkValue, optionString, parseOptionString } from './values.js';

/**
 * LXC guest → Proxmox container options. The parameter names are those of `POST /nodes/{node}/lxc` and
 * equally of `pct create <vmid> <ostemplate> --<name> <value>`. Pure: nothing here reads or writes anything.
 */

export interface LxcOptions {
  /** Storage for the root filesystem; defaults to the guest's `storage_pool`. */
  readonly storage?: string;
  /** `ostemplate` volume id (`local:vztmpl/…tar.zst`); defaults to the configured `template` path. */
  readonly template?: string;
  /**
   * Storage id → directory (the `path` of dir storages in storage.cfg). A configured template path under
   * `<dir>/template/cache/` becomes the volume id `<id>:vztmpl/<file>`; otherwise the absolute path is
   * passed, which Proxmox accepts from root@pam only.
   */
  readonly storagePaths?: Readonly<Record<string, string>>;
  /** `proxmox_defaults.lxc.features` ("nesting=1"): under the guest's own `pct_options`. */
  readonly defaultFeatures?: string;
}

/** A host directory behind a bind mount: the driver creates it and, when an owner is declared, chowns it. */
export interface HostDir {
  readonly path: string;
  /** Host uid/gid (already shifted through the id map); undefined = not managed. */
  readonly uid?: number;
  readonly gid?: number;
  readonly guestPath: string;
  readonly option: string;
  readonly origin: Origin;
}

export interface LxcPlan {
  /** `POST /nodes/{node}/lxc` body / `pct create` options (strings, as the API takes them form-encoded). */
  readonly params: Record<string, string>;
  /**
   * Raw `lxc.*` lines (id map, AppArmor profile, lxc_options). The API has no parameter for them: the driver
   * writes them into /etc/pve/lxc/<vmid>.conf through the CLI transport (see `mergeRawLines`).
   */
  readonly rawLines: readonly RawLine[];
  readonly hostDirs: readonly HostDir[];
  /** Host id ranges root must own in /etc/subuid and /etc/subgid for the id map to be usable. */
  readonly subordinateIds: readonly SubordinateIds[];
}

export interface LxcClonePlan extends Omit<LxcPlan, 'params'> {
  /** `POST /nodes/{node}/lxc/{source}/clone` (`pct clone <source> <newid>` options). */
  readonly clone: Record<string, string>;
  /** `PUT /nodes/{node}/lxc/{newid}/config` (`pct set`) after the clone. */
  readonly config: Record<string, string>;
  /** `PUT …/resize` of `rootfs` from the source's size. */
  readonly resize: ResizePlan;
}

const FEATURE_KEYS = ['force_rw_sys', 'fuse', 'keyctl', 'mknod', 'mount', 'nesting'] as const;
const MAX_MOUNT_POINTS = 256;
/** Options Phoenix sets itself; a pct_options entry may not set them a second way. */
const MANAGED = new Set([
  'hostname',
  'cores',
  'memory',
  'swap',
  'net0',
  'nameserver',
  'features',
  'onboot',
  'startup',
  'unprivileged',
  'rootfs',
  'ostemplate',
]);
/** lxc.* keys that take one value; two different values are a conflict, not a list. */
const SINGLE_VALUED = new Set([
  'lxc.apparmor.profile',
  'lxc.apparmor.allow_nesting',
  'lxc.apparmor.allow_incomplete',
]);
const NO_COLON: ReadonlyArray<readonly [RegExp, string]> = [
  [/:/, 'a colon (Proxmox would read "<storage>:<volume>")'],
];

const at = (g: LxcGuest, ...seg: Array<string | number>): Origin => ({
  file: g.origin.file,
  pointer: joinPointer(g.origin.pointer, ...seg),
});

/** The options `PUT …/lxc/{vmid}/config` can set: the part of creation that also converges an existing guest. */
export function lxcConfigParams(g: LxcGuest, opts: LxcOptions = {}): Record<string, string> {
  const c = g.config;
  const params: Record<string, string> = {
    hostname: checkDnsName(g.name, { origin: at(g, 'name'), option: 'hostname', what: 'name' }),
  };
  if (g.resources.cores !== undefined) params.cores = String(g.resources.cores);
  if (g.resources.memoryMb !== undefined) params.memory = String(g.resources.memoryMb);
  if (c.swap_mb !== undefined) params.swap = String(c.swap_mb);
  params.net0 = net0(g);
  const ns = nameserverOption(g);
  if (ns !== undefined) params.nameserver = ns;
  const features = featuresOption(g, opts.defaultFeatures);
  if (features) params.features = features;
  Object.assign(params, bootParams(g), mountPoints(g).params, passthrough(g));
  return params;
}

export function lxcCreateParams(g: LxcGuest, opts: LxcOptions = {}): LxcPlan {
  const storage = storageOf(g, opts);
  if (g.resources.diskGb === undefined)
    throw new ProxmoxConfigError(at(g, 'storage_size_gb'), 'rootfs', 'no root filesystem size is declared');
  const params: Record<string, string> = {
    vmid: String(g.id),
    ostemplate: ostemplate(g, opts),
    rootfs: `${storage}:${g.resources.diskGb}`,
    unprivileged: g.unprivileged ? '1' : '0',
    ...lxcConfigParams(g, opts),
  };
  return { params, ...rawAndHost(g) };
}

export interface LxcCloneOptions extends LxcOptions {
  /** Whether the source is a Proxmox template (`template: 1`); Proxmox links clones of templates by default. */
  readonly sourceIsTemplate?: boolean;
  /** Force a full (true) or linked (false) clone; default as Proxmox: linked for templates, else full. */
  readonly full?: boolean;
  /** The source's current root filesystem size (GiB) as observed; defaults to its declared size. */
  readonly sourceDiskGb?: number;
}

export function lxcCloneParams(g: LxcGuest, source: LxcGuest, opts: LxcCloneOptions = {}): LxcClonePlan {
  const origin = at(g, 'clone_from_ctid');
  if (source.mounts.length)
    throw new ProxmoxConfigError(
      origin,
      'clone',
      `container ${source.id} has ${source.mounts.length} bind mount point(s); Proxmox refuses to clone bind mounts ("unable to clone mountpoint"), so a clone source must have none`,
    );
  if (source.unprivileged !== g.unprivileged)
    throw new ProxmoxConfigError(
      origin,
      'unprivileged',
      `container ${g.id} is declared ${g.unprivileged ? 'unprivileged' : 'privileged'} but its clone source ${source.id} is ${source.unprivileged ? 'unprivileged' : 'privileged'}; a clone inherits it and Proxmox cannot change it afterwards`,
    );
  const isTemplate = opts.sourceIsTemplate ?? false;
  const full = opts.full ?? !isTemplate;
  if (!full && !isTemplate)
    throw new ProxmoxConfigError(
      origin,
      'clone',
      `a linked clone needs a template source; container ${source.id} is not a Proxmox template`,
    );
  const clone: Record<string, string> = {
    newid: String(g.id),
    hostname: checkDnsName(g.name, { origin: at(g, 'name'), option: 'hostname', what: 'name' }),
    full: full ? '1' : '0',
  };
  if (source.snapshotName !== undefined)
    clone.snapname = checkValue(source.snapshotName, {
      origin: source.origin,
      option: 'snapname',
      what: 'snapshot name',
    });
  const storage = opts.storage ?? g.resources.storage;
  // Proxmox: "parameter 'storage' not allowed for linked clones".
  if (full && storage !== undefined) clone.storage = storageOf(g, opts);
  return {
    clone,
    config: lxcConfigParams(g, opts),
    resize: diskResizePlan('rootfs', g.resources.diskGb, opts.sourceDiskGb ?? source.resources.diskGb),
    ...rawAndHost(g),
  };
}

function storageOf(g: LxcGuest, opts: LxcOptions): string {
  const storage = opts.storage ?? g.resources.storage;
  if (storage === undefined)
    throw new ProxmoxConfigError(at(g, 'storage_pool'), 'rootfs', 'no storage is declared');
  return checkValue(
    storage,
    { origin: at(g, 'storage_pool'), option: 'rootfs', what: 'storage id' },
    NO_COLON,
  );
}

function ostemplate(g: LxcGuest, opts: LxcOptions): string {
  const origin = at(g, 'template');
  const t = opts.template ?? templateVolume(g.resources.template, opts.storagePaths);
  if (t === undefined)
    throw new ProxmoxConfigError(
      g.origin,
      'ostemplate',
      `container ${g.id} has neither a template nor clone_from_ctid, so there is nothing to create it from`,
    );
  return checkValue(t, { origin, option: 'ostemplate', what: 'template' });
}

/** `/fastData/shared-iso/template/cache/x.tar.zst` → `fastData-shared-iso:vztmpl/x.tar.zst` when the dir is known. */
export function templateVolume(
  path: string | undefined,
  storagePaths: Readonly<Record<string, string>> = {},
): string | undefined {
  if (path === undefined) return undefined;
  for (const [id, dir] of Object.entries(storagePaths)) {
    const prefix = `${dir.replace(/\/+$/, '')}/template/cache/`;
    if (path.startsWith(prefix) && !path.slice(prefix.length).includes('/'))
      return `${id}:vztmpl/${path.slice(prefix.length)}`;
  }
  return path;
}

function net0(g: LxcGuest): string {
  const n = g.config.network_config;
  const o = at(g, 'network_config');
  const ctx = (what: string) => ({ origin: o, option: 'net0', what });
  const address = addressOf(g);
  return optionString([
    `name=${checkValue(n.name, ctx('interface name'))}`,
    `bridge=${checkValue(n.bridge, ctx('bridge'))}`,
    g.firewall.enabled ? 'firewall=1' : undefined,
    g.gateway !== undefined && address !== 'dhcp' ? `gw=${checkValue(g.gateway, ctx('gateway'))}` : undefined,
    g.mac !== undefined
      ? `hwaddr=${checkValue(g.mac.toUpperCase(), { origin: at(g, 'mac_address'), option: 'net0', what: 'MAC address' })}`
      : undefined,
    address !== undefined ? `ip=${checkValue(address, ctx('address'))}` : undefined,
  ]);
}

/**
 * `features: keyctl=1,nesting=1`: proxmox_defaults.lxc.features, then the guest's pct_options feature keys.
 * `apparmor_manages_nesting` means the profile handles nesting, so nesting is not set.
 */
function featuresOption(g: LxcGuest, defaults: string | undefined): string | undefined {
  const values = new Map<string, string>();
  if (defaults) {
    for (const [k, v] of parseOptionString(defaults).pairs)
      if ((FEATURE_KEYS as readonly string[]).includes(k)) values.set(k, v);
  }
  (g.config.pct_options ?? []).forEach((opt, i) => {
    const [k, v] = splitKv(opt);
    if ((FEATURE_KEYS as readonly string[]).includes(k))
      values.set(
        k,
        checkValue(v, { origin: at(g, 'pct_options', i), option: 'features', what: `feature ${k}` }),
      );
  });
  if (g.config.apparmor_manages_nesting) values.delete('nesting');
  const parts = FEATURE_KEYS.filter((k) => values.has(k)).map((k) => `${k}=${values.get(k)}`);
  return parts.length ? parts.join(',') : undefined;
}

/** pct_options that are not features pass through as options, unless Phoenix manages that option itself. */
function passthrough(g: LxcGuest): Record<string, string> {
  const out: Record<string, string> = {};
  (g.config.pct_options ?? []).forEach((opt, i) => {
    const [k, v] = splitKv(opt);
    if ((FEATURE_KEYS as readonly string[]).includes(k)) return;
    const origin = at(g, 'pct_options', i);
    if (MANAGED.has(k) || /^(mp|net)\d+$/.test(k))
      throw new ProxmoxConfigError(
        origin,
        k,
        `is set by Phoenix from the container's own fields; setting it again in pct_options would make two writers of one option`,
      );
    out[k] = v;
  });
  return out;
}

function splitKv(opt: string): [string, string] {
  const eq = opt.indexOf('=');
  return [opt.slice(0, eq), opt.slice(eq + 1)];
}

/** Bind mounts (`mpN: /host/dir,mp=/guest/path[,ro=1]`), then storage-backed zfs_volumes (`mpN: storage:size,mp=…`). */
function mountPoints(g: LxcGuest): { params: Record<string, string> } {
  const params: Record<string, string> = {};
  let i = 0;
  for (const m of g.mounts) {
    const option = `mp${i}`;
    const host = checkValue(m.hostPath, { origin: m.origin, option, what: 'host path' }, NO_COLON);
    const guest = checkValue(m.guestPath, { origin: m.origin, option, what: 'container path' });
    const ro = g.config.mount_points?.find(
      (c) => c.host_path === m.hostPath && c.container_path === m.guestPath,
    )?.read_only;
    params[option] = optionString([host, `mp=${guest}`, ro ? 'ro=1' : undefined]);
    i++;
  }
  (g.config.zfs_volumes ?? []).forEach((v, j) => {
    const option = `mp${i}`;
    const origin = at(g, 'zfs_volumes', j);
    const storage = checkValue(v.pool, { origin, option, what: 'storage id' }, NO_COLON);
    const path = checkValue(v.mount_point, { origin, option, what: 'mount point' });
    params[option] = `${storage}:${v.size_gb},mp=${path}`;
    i++;
  });
  if (i > MAX_MOUNT_POINTS)
    throw new ProxmoxConfigError(g.origin, 'mp', `${i} mount points; Proxmox allows ${MAX_MOUNT_POINTS}`);
  return { params };
}

function rawAndHost(g: LxcGuest): Omit<LxcPlan, 'params'> {
  const lines: RawLine[] = [];
  const c = g.config;
  const idMaps = c.id_maps ?? [];
  if (idMaps.length && !g.unprivileged)
    throw new ProxmoxConfigError(
      at(g, 'id_maps'),
      'lxc.idmap',
      'id_maps are declared for a privileged container, which uses host ids unchanged; make it unprivileged or remove them',
    );
  const mapped = g.unprivileged && idMaps.length > 0;
  if (mapped) lines.push(...idmapLines(g.idMap));
  if (c.apparmor_profile !== undefined)
    lines.push({ key: 'lxc.apparmor.profile', value: c.apparmor_profile });
  (c.lxc_options ?? []).forEach((opt, i) => {
    const origin = at(g, 'lxc_options', i);
    const m = /^(lxc\.[a-z0-9_.]+)\s*[:=]\s*(.*)$/.exec(opt);
    if (!m || /[\r\n]/.test(opt))
      throw new ProxmoxConfigError(origin, 'lxc', `${JSON.stringify(opt)} is not an lxc.<key>=<value> line`);
    const key = m[1]!;
    const value = m[2]!.trim();
    if (key === 'lxc.idmap' && mapped)
      throw new ProxmoxConfigError(
        origin,
        key,
        'the id map is written from id_maps; an lxc.idmap line in lxc_options would be a second writer of it',
      );
    const same = lines.find((l) => l.key === key);
    if (same && SINGLE_VALUED.has(key) && same.value !== value)
      throw new ProxmoxConfigError(
        origin,
        key,
        `sets ${JSON.stringify(value)} but ${JSON.stringify(same.value)} is already declared (apparmor_profile or an earlier line); keep one`,
      );
    if (!lines.some((l) => l.key === key && l.value === value)) lines.push({ key, value });
  });
  const hostDirs: HostDir[] = g.mounts.map((m, i) => ({
    path: m.hostPath,
    guestPath: m.guestPath,
    option: `mp${i}`,
    origin: m.origin,
    ...hostOwner(g.idMap, { uid: m.ownerUid, gid: m.ownerGid }, m.origin, `mp${i}`),
  }));
  return { rawLines: lines, hostDirs, subordinateIds: mapped ? subordinateIds(g.idMap) : [] };
}
