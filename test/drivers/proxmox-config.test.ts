import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { analyse } from '../../src/analyse.js';
import type { GuestSettings } from '../../src/drivers/hypervisor/types.js';
import {
  NodeSelectionError,
  ProxmoxConfigError,
  VmidReservations,
  bootDisk,
  configFromApi,
  decodeSshKeys,
  diskResizePlan,
  encodeSshKeys,
  formatRawLine,
  guestNodes,
  lxcCloneParams,
  lxcCreateParams,
  mergeFstab,
  mergeRawLines,
  parseConfigText,
  parseGuestSettings,
  parseOptionString,
  pickNode,
  pickVmid,
  qemuCloneParams,
  qemuConfigParams,
  qemuCreateParams,
  settingsDiff,
  usedVmids,
  type NodeInfo,
  type RawLine,
  type ResizePlan,
} from '../../src/drivers/proxmox/config/index.js';
import { mappingFromInventory } from '../../src/drivers/proxmox/mapping-options.js';
import { effectiveIdMap } from '../../src/model/idmap.js';
import type { Guest, Inventory, LxcGuest, VmGuest } from '../../src/model/inventory.js';
import { desiredSettings } from '../../src/resources/guest.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../../../shared/reference/original-config/etc', import.meta.url));

async function inventoryOf(dir: string): Promise<Inventory> {
  const { inventory, diagnostics } = await analyse(dir);
  assert.ok(inventory, diagnostics.items.map((d) => d.message).join('\n'));
  return inventory;
}

const lxcOf = (inv: Inventory, id: number): LxcGuest => {
  const g = inv.guests.get(id);
  assert.equal(g?.kind, 'lxc');
  return g as LxcGuest;
};
const vmOf = (inv: Inventory, id: number): VmGuest => {
  const g = inv.guests.get(id);
  assert.equal(g?.kind, 'vm');
  return g as VmGuest;
};

/** Options the driver would pass for the example host. */
const VM_OPTS = { bridge: 'vmbr0', imageStorage: 'fastData-shared-iso' };

// ---------------------------------------------------------------------------------------------------------
// A model of how Proxmox stores what it is given (pve-container / qemu-server behaviour): volumes are
// allocated and written as `<storage>:vm-<id>-disk-N,size=<n>G`, a NIC without a MAC gets a generated one,
// NIC options are re-printed in the schema's key order, the nameserver list is stored space-separated,
// create-only parameters are not stored, and arch/ostype/meta lines are added. It is a test double and only
// as true as that description; the parser must not depend on key order or on these extra lines.
// ---------------------------------------------------------------------------------------------------------

const CREATE_ONLY = new Set([
  'vmid',
  'ostemplate',
  'storage',
  'password',
  'ssh-public-keys',
  'start',
  'newid',
  'full',
  'snapname',
]);

function reprint(value: string, firstKeys: readonly string[]): string {
  const { first, pairs } = parseOptionString(value);
  const head = first !== undefined ? [first] : [];
  const keys = [...pairs.keys()].sort((a, b) => {
    const ia = firstKeys.indexOf(a);
    const ib = firstKeys.indexOf(b);
    return ia >= 0 || ib >= 0 ? (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) : a.localeCompare(b);
  });
  return [...head, ...keys.map((k) => `${k}=${pairs.get(k)}`)].join(',');
}

function storeLxc(id: number, params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { arch: 'amd64', ostype: 'ubuntu' };
  let disk = 0;
  for (const [k, v] of Object.entries(params)) {
    if (CREATE_ONLY.has(k)) continue;
    if (k === 'rootfs' || (k.startsWith('mp') && /^[^/][^:]*:\d+,/.test(v))) {
      const m = /^([^:]+):(\d+)(.*)$/.exec(v)!;
      out[k] = `${m[1]}:vm-${id}-disk-${disk++}${m[3]},size=${m[2]}G`;
    } else if (k === 'net0') {
      const withMac = parseOptionString(v).pairs.has('hwaddr')
        ? v
        : `${v},hwaddr=BC:24:11:00:00:${String(id % 100).padStart(2, '0')}`;
      out[k] = reprint(withMac, ['name']);
    } else if (k === 'nameserver') out[k] = v.split(/[\s,;]+/).join(' ');
    else out[k] = v;
  }
  return out;
}

function storeQemu(id: number, params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {
    meta: 'creation-qemu=9.0.2,ctime=1700000000',
    vmgenid: '0d5a-x',
    smbios1: 'uuid=1',
  };
  for (const [k, v] of Object.entries(params)) {
    if (CREATE_ONLY.has(k)) continue;
    if (/^(scsi|virtio|sata)\d+$/.test(k) && v.includes('import-from=')) {
      // The imported cloud image keeps its own size until resized.
      out[k] = `${v.split(':')[0]}:vm-${id}-disk-0,size=3584M`;
    } else if (k === 'ide2' && v.endsWith(':cloudinit'))
      out[k] = `${v.split(':')[0]}:vm-${id}-cloudinit,media=cdrom`;
    else if (k === 'net0') {
      const p = parseOptionString(v);
      out[k] =
        p.first === 'virtio'
          ? reprint(`virtio=BC:24:11:00:10:${String(id % 100).padStart(2, '0')}${v.slice(6)}`, [])
          : reprint(v, []);
    } else if (k === 'nameserver') out[k] = v.split(/[\s,;]+/).join(' ');
    else out[k] = v;
  }
  return out;
}

function applyResize(conf: Record<string, string>, plan: ResizePlan): void {
  if (plan.action !== 'grow') return;
  const { disk, size } = plan.params;
  conf[disk] = conf[disk]!.replace(/size=[^,]+/, `size=${size}`);
}

/** The conf file text: options, raw lxc.* lines, then a snapshot section the parser must ignore. */
function confText(conf: Record<string, string>, raw: readonly RawLine[] = []): string {
  return [
    '#managed by phoenix',
    ...Object.entries(conf).map(([k, v]) => `${k}: ${v}`),
    ...raw.map(formatRawLine),
    '',
    '[before-upgrade]',
    'memory: 1',
    'cores: 64',
    'net0: name=eth0,bridge=vmbr9,ip=192.0.2.1/24',
    'snaptime: 1700000000',
    '',
  ].join('\n');
}

/** The declared settings without unset fields, and the same fields of the observed settings. */
function comparable(
  want: GuestSettings,
  have: GuestSettings,
): [Record<string, unknown>, Record<string, unknown>] {
  const w = Object.fromEntries(Object.entries(want).filter(([, v]) => v !== undefined));
  const h = Object.fromEntries(
    Object.keys(w).map((k) => [k, (have as unknown as Record<string, unknown>)[k]]),
  );
  return [w, h];
}

function roundTripCreate(g: Guest): GuestSettings {
  if (g.kind === 'lxc') {
    const plan = lxcCreateParams(g, {
      template: g.resources.template ? undefined : 'local:vztmpl/debian-12.tar.zst',
    });
    return parseGuestSettings('lxc', confText(storeLxc(g.id, plan.params), plan.rawLines));
  }
  // A clone can be created from the cloud image as well; it then needs an image to import.
  const plan = qemuCreateParams(g, {
    ...VM_OPTS,
    importFrom: g.config.template_image ? undefined : 'local:import/noble.img',
  });
  const stored = storeQemu(g.id, plan.params);
  applyResize(stored, plan.resize);
  return parseGuestSettings('vm', confText(stored));
}

function roundTripClone(g: Guest, source: Guest): GuestSettings {
  if (g.kind === 'lxc' && source.kind === 'lxc') {
    const src = storeLxc(
      source.id,
      lxcCreateParams(source, { template: 'local:vztmpl/debian-12.tar.zst' }).params,
    );
    const plan = lxcCloneParams(g, source);
    const stored: Record<string, string> = {
      ...src,
      rootfs: src.rootfs!.replace(`vm-${source.id}-`, `vm-${g.id}-`),
    };
    Object.assign(stored, storeLxc(g.id, plan.config));
    applyResize(stored, plan.resize);
    // The clone inherits the source's lxc.* lines; the driver merges its own over them.
    const text = mergeRawLines(
      confText(stored, [{ key: 'lxc.idmap', value: 'u 0 100000 65536' }]),
      plan.rawLines,
    );
    return parseGuestSettings('lxc', text);
  }
  assert.ok(g.kind === 'vm' && source.kind === 'vm');
  const srcPlan = qemuCreateParams(source, VM_OPTS);
  const src = storeQemu(source.id, srcPlan.params);
  applyResize(src, srcPlan.resize);
  const plan = qemuCloneParams(g, source, VM_OPTS);
  const stored = { ...src, name: plan.clone.name!, ...storeQemu(g.id, plan.config) };
  applyResize(stored, plan.resize);
  return parseGuestSettings('vm', configFromApi({ ...stored, digest: 'abc' }));
}

// ------------------------------------------------------------------ golden-ish: the example's guests

test('gateway LXC 101: create parameters, id map lines, AppArmor and mount points with shifted owners', async () => {
  const g = lxcOf(await inventoryOf(EXAMPLE), 101);
  const plan = lxcCreateParams(g, { template: 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst' });
  assert.deepEqual(plan.params, {
    vmid: '101',
    ostemplate: 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst',
    rootfs: 'quickOS-lxc-disks:32',
    unprivileged: '1',
    hostname: 'Nginx-Phoenix',
    cores: '4',
    memory: '4096',
    swap: '512',
    net0: 'name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=52:54:00:67:89:B3,ip=10.0.0.153/24',
    nameserver: '10.0.0.13',
    // pct_options has nesting=1, but apparmor_manages_nesting says the profile handles it: no features.
    onboot: '1',
    startup: 'order=2,up=5',
    mp0: '/mnt/pve/quickOS/lxc-persistent-data/101/logs,mp=/var/log/nginx',
    mp1: '/mnt/pve/quickOS/lxc-persistent-data/101/ssl,mp=/etc/nginx/ssl',
    mp2: '/mnt/pve/quickOS/lxc-persistent-data/103/ssl,mp=/etc/step-ca/ssl',
  });
  // The full map around the configured gid 33 exception, not a fixed line.
  assert.deepEqual(plan.rawLines.map(formatRawLine), [
    'lxc.idmap: u 0 100000 65536',
    'lxc.idmap: g 0 100000 33',
    'lxc.idmap: g 33 33 1',
    'lxc.idmap: g 34 100034 65502',
    'lxc.apparmor.profile: unconfined',
    'lxc.mount.auto: sys:rw',
  ]);
  assert.deepEqual(plan.subordinateIds, [{ type: 'gid', host: 33, size: 1 }]);
  // Owners are declared as seen inside; www-data's uid 33 is shifted, its gid 33 is mapped straight through.
  assert.deepEqual(
    plan.hostDirs.map((d) => [d.option, d.path, d.uid, d.gid]),
    [
      ['mp0', '/mnt/pve/quickOS/lxc-persistent-data/101/logs', 100033, 33],
      ['mp1', '/mnt/pve/quickOS/lxc-persistent-data/101/ssl', 100000, 100000],
      ['mp2', '/mnt/pve/quickOS/lxc-persistent-data/103/ssl', 100000, 100000],
    ],
  );
});

test('gateway LXC 101 cloned from 900: clone from the snapshot, full (900 is no Proxmox template), rootfs grown', async () => {
  const inv = await inventoryOf(EXAMPLE);
  const plan = lxcCloneParams(lxcOf(inv, 101), lxcOf(inv, 900));
  assert.deepEqual(plan.clone, {
    newid: '101',
    hostname: 'Nginx-Phoenix',
    full: '1',
    snapname: 'final-form',
    storage: 'quickOS-lxc-disks',
  });
  assert.deepEqual(plan.resize, { action: 'grow', params: { disk: 'rootfs', size: '32G' } });
  assert.equal(plan.config.unprivileged, undefined, 'unprivileged cannot be set after creation');
  assert.equal(plan.config.mp0, '/mnt/pve/quickOS/lxc-persistent-data/101/logs,mp=/var/log/nginx');
  // A linked clone of a non-template is refused before Proxmox would refuse it.
  assert.throws(
    () => lxcCloneParams(lxcOf(inv, 101), lxcOf(inv, 900), { full: false }),
    /linked clone needs a template/,
  );
});

test('Docker VM 1001: linked clone of template 9000 from its snapshot, cloud-init, agent, NFS fstab', async () => {
  const inv = await inventoryOf(EXAMPLE);
  const plan = qemuCloneParams(vmOf(inv, 1001), vmOf(inv, 9000), VM_OPTS);
  assert.deepEqual(plan.clone, {
    newid: '1001',
    name: 'Portainer',
    full: '0',
    snapname: 'initial_clean_state',
  });
  assert.deepEqual(plan.config, {
    name: 'Portainer',
    cores: '4',
    memory: '8192',
    net0: 'virtio,bridge=vmbr0,firewall=1',
    ipconfig0: 'ip=10.0.0.111/24,gw=10.0.0.1',
    nameserver: '10.0.0.13',
    ciuser: 'phoenix_user',
    agent: '1',
    onboot: '1',
    startup: 'order=4,up=2',
  });
  assert.deepEqual(
    plan.fstab.map((e) => e.line),
    [
      '10.0.0.13:/quickOS/vm-persistent-data/1001 /persistent-storage nfs defaults,_netdev 0 0',
      '10.0.0.13:/quickOS/vm-persistent-data/1001/.step-ca /etc/step-ca/certs nfs defaults,_netdev 0 0',
    ],
  );
  // The template's disk is 32 GiB, as 1001 declares: nothing to resize. Smaller would be refused (no shrinking).
  assert.equal(plan.resize.action, 'none');
  const shrink = qemuCloneParams(
    { ...vmOf(inv, 1001), resources: { ...vmOf(inv, 1001).resources, diskGb: 16 } },
    vmOf(inv, 9000),
    VM_OPTS,
  );
  assert.equal(shrink.resize.action, 'refuse');
  assert.match(
    (shrink.resize as { reason: string }).reason,
    /scsi0 is 32 GiB and 16 GiB is declared: Proxmox cannot shrink/,
  );
  // A full clone carries the target storage; a linked one must not (Proxmox refuses it).
  assert.equal(
    qemuCloneParams(vmOf(inv, 1001), vmOf(inv, 9000), { ...VM_OPTS, full: true }).clone.storage,
    'quickOS-vm-disks',
  );
});

test('template VM 9000: created from the cloud image, disk grown to the declared absolute size', async () => {
  const g = vmOf(await inventoryOf(EXAMPLE), 9000);
  const plan = qemuCreateParams(g, VM_OPTS);
  assert.equal(
    plan.params.scsi0,
    'quickOS-vm-disks:0,import-from=fastData-shared-iso:import/noble-server-cloudimg-amd64.img',
  );
  assert.equal(plan.params.ide2, 'quickOS-vm-disks:cloudinit');
  assert.equal(plan.params.boot, 'order=scsi0');
  assert.equal(plan.params.ipconfig0, 'ip=dhcp');
  assert.equal(plan.params.onboot, '0');
  assert.equal(plan.params.startup, undefined);
  assert.deepEqual(plan.resize, { action: 'grow', params: { disk: 'scsi0', size: '32G' } });
  assert.throws(
    () => qemuCreateParams(g, { bridge: 'vmbr0' }),
    /noble-server-cloudimg-amd64.img has no known volume/,
  );
});

// ------------------------------------------------------------------ id maps and owners

test('id map lines follow the configured id_maps; privileged containers get none and refuse id_maps', async () => {
  const g = lxcOf(await inventoryOf(EXAMPLE), 101);
  const ids = [
    { type: 'uid' as const, container_id: 1000, host_id: 1000, size: 2 },
    { type: 'gid' as const, container_id: 0, host_id: 200000, size: 10 },
  ];
  const custom: LxcGuest = {
    ...g,
    idMap: effectiveIdMap(true, ids),
    config: { ...g.config, id_maps: ids, lxc_options: [] },
  };
  const plan = lxcCreateParams(custom, { template: 'local:vztmpl/t.tar.zst' });
  assert.deepEqual(
    plan.rawLines.filter((l) => l.key === 'lxc.idmap').map((l) => l.value),
    ['u 0 100000 1000', 'u 1000 1000 2', 'u 1002 101002 64534', 'g 0 200000 10', 'g 10 100010 65526'],
  );
  assert.deepEqual(plan.subordinateIds, [
    { type: 'uid', host: 1000, size: 2 },
    { type: 'gid', host: 200000, size: 10 },
  ]);
  // gid 0 inside is now host 200000.
  assert.equal(plan.hostDirs[1]!.gid, 200000);

  const noMaps: LxcGuest = { ...g, idMap: effectiveIdMap(true), config: { ...g.config, id_maps: undefined } };
  assert.ok(!lxcCreateParams(noMaps, { template: 't' }).rawLines.some((l) => l.key === 'lxc.idmap'));

  const privileged: LxcGuest = { ...g, unprivileged: false, idMap: effectiveIdMap(false) };
  assert.throws(
    () => lxcCreateParams(privileged, { template: 't' }),
    (e: unknown) =>
      e instanceof ProxmoxConfigError &&
      e.option === 'lxc.idmap' &&
      /privileged container/.test(e.message) &&
      e.message.includes('/lxc_configs/101/id_maps'),
  );
  const plain: LxcGuest = { ...privileged, config: { ...g.config, id_maps: undefined, unprivileged: false } };
  const p = lxcCreateParams(plain, { template: 't' });
  assert.equal(p.params.unprivileged, '0');
  assert.deepEqual(
    p.hostDirs.map((d) => [d.uid, d.gid]),
    [
      [33, 33],
      [0, 0],
      [0, 0],
    ],
  );
});

test('an owner the id map does not map is a located error', async () => {
  const g = lxcOf(await inventoryOf(EXAMPLE), 101);
  const bad: LxcGuest = { ...g, mounts: [{ ...g.mounts[0]!, ownerUid: 70000 }] };
  assert.throws(
    () => lxcCreateParams(bad, { template: 't' }),
    (e: unknown) =>
      e instanceof ProxmoxConfigError &&
      /uid 70000 is not mapped/.test(e.message) &&
      e.message.includes('/lxc_configs/101/mount_points/0'),
  );
});

// ------------------------------------------------------------------ validation of option-string values

test('values that would break an option string are refused with file, pointer and option', async () => {
  const inv = await inventoryOf(EXAMPLE);
  const g = lxcOf(inv, 101);
  const t = { template: 'local:vztmpl/t.tar.zst' };
  const fails = (guest: LxcGuest, re: RegExp, pointer: string, option: string) =>
    assert.throws(
      () => lxcCreateParams(guest, t),
      (e: unknown) =>
        e instanceof ProxmoxConfigError &&
        e.option === option &&
        re.test(e.message) &&
        e.message.includes(pointer) &&
        e.message.includes('phoenix_lxc_configs.json'),
    );
  fails(
    { ...g, mounts: [{ ...g.mounts[0]!, hostPath: '/mnt/a,b' }] },
    /contains a comma/,
    '/lxc_configs/101/mount_points/0',
    'mp0',
  );
  fails(
    { ...g, mounts: [{ ...g.mounts[0]!, hostPath: '/mnt/a=b' }] },
    /equals sign/,
    '/mount_points/0',
    'mp0',
  );
  fails({ ...g, mounts: [{ ...g.mounts[0]!, hostPath: '/mnt/local:b' }] }, /colon/, '/mount_points/0', 'mp0');
  fails({ ...g, mounts: [{ ...g.mounts[0]!, guestPath: '/a b' }] }, /whitespace/, '/mount_points/0', 'mp0');
  fails({ ...g, name: 'nginx_gw' }, /not a valid DNS name/, '/lxc_configs/101/name', 'hostname');
  fails(
    { ...g, gateway: '10.0.0.1\nlxc.apparmor.profile: unconfined' },
    /line break/,
    '/network_config',
    'net0',
  );
  fails(
    { ...g, config: { ...g.config, network_config: { ...g.config.network_config, bridge: 'vmbr0,tag=5' } } },
    /comma/,
    '/network_config',
    'net0',
  );
  fails(
    { ...g, config: { ...g.config, pct_options: ['memory=64'] } },
    /two writers/,
    '/pct_options/0',
    'memory',
  );
  fails(
    { ...g, config: { ...g.config, lxc_options: ['lxc.apparmor.profile=generated'] } },
    /already declared/,
    '/lxc_options/0',
    'lxc.apparmor.profile',
  );
  fails(
    { ...g, config: { ...g.config, lxc_options: ['lxc.idmap: u 0 0 1'] } },
    /second writer/,
    '/lxc_options/0',
    'lxc.idmap',
  );

  const vm = vmOf(inv, 1001);
  assert.throws(
    () =>
      qemuCloneParams(
        {
          ...vm,
          config: {
            ...vm.config,
            user_config: { username: 'u', ssh_public_key: 'ssh-ed25519 AAAA x\nssh-rsa BBBB' },
          },
        },
        vmOf(inv, 9000),
        VM_OPTS,
      ),
    (e: unknown) =>
      e instanceof ProxmoxConfigError &&
      e.option === 'sshkeys' &&
      e.message.includes('/vms/1/user_config/ssh_public_key'),
  );
  assert.throws(
    () =>
      qemuCloneParams(
        { ...vm, config: { ...vm.config, volumes: [{ ...vm.config.volumes![0]!, options: 'rw, hard' }] } },
        vmOf(inv, 9000),
        VM_OPTS,
      ),
    (e: unknown) =>
      e instanceof ProxmoxConfigError && e.option === 'fstab' && e.message.includes('/vms/1/volumes/0'),
  );
});

test('pct_options features and proxmox_defaults: nesting dropped when AppArmor manages it, others kept', async () => {
  const g = lxcOf(await inventoryOf(EXAMPLE), 101);
  const t = { template: 't', defaultFeatures: 'nesting=1' };
  const withKeyctl: LxcGuest = {
    ...g,
    config: { ...g.config, pct_options: ['nesting=1', 'keyctl=1', 'tags=web'] },
  };
  assert.equal(lxcCreateParams(withKeyctl, t).params.features, 'keyctl=1');
  assert.equal(lxcCreateParams(withKeyctl, t).params.tags, 'web');
  const nestingOk: LxcGuest = {
    ...withKeyctl,
    config: { ...withKeyctl.config, apparmor_manages_nesting: false },
  };
  assert.equal(lxcCreateParams(nestingOk, t).params.features, 'keyctl=1,nesting=1');
});

test('clone sources with bind mounts and privilege mismatches are refused', async () => {
  const inv = await inventoryOf(EXAMPLE);
  assert.throws(
    () => lxcCloneParams(lxcOf(inv, 101), lxcOf(inv, 103)),
    /103 has 1 bind mount point.*refuses to clone bind mounts/,
  );
  const priv: LxcGuest = { ...lxcOf(inv, 102), unprivileged: false, idMap: effectiveIdMap(false) };
  assert.throws(() => lxcCloneParams(priv, lxcOf(inv, 900)), /cannot change it afterwards/);
});

test('sshkeys are URL-encoded in the character set Proxmox accepts and decode back', async () => {
  const keys = [
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm+/x= phoenix@host (ops)',
    'ssh-rsa AAAAB3Nza+/= other',
  ];
  const enc = encodeSshKeys(keys);
  assert.match(enc, /^[-%a-zA-Z0-9_.!~*'()]*$/);
  assert.ok(
    enc.includes('%20') &&
      enc.includes('%0A') &&
      enc.includes('%2B') &&
      enc.includes('%2F') &&
      !enc.includes('+'),
  );
  assert.deepEqual(decodeSshKeys(enc), keys);
  const inv = await inventoryOf(EXAMPLE);
  const vm = vmOf(inv, 1001);
  const withKey: VmGuest = {
    ...vm,
    config: { ...vm.config, user_config: { username: 'phoenix_user', ssh_public_key: keys[0] } },
  };
  const params = qemuCloneParams(withKey, vmOf(inv, 9000), {
    ...VM_OPTS,
    sshKeys: [keys[1]!, keys[0]!],
  }).config;
  assert.deepEqual(decodeSshKeys(params.sshkeys!), keys, 'own key first, duplicates dropped');
});

// ------------------------------------------------------------------ parse and round trips

for (const [label, dir] of [
  ['example', EXAMPLE],
  ['reference', REFERENCE],
] as const) {
  test(`round trip (${label}): create params → stored as Proxmox would → parse equals the model's settings, every guest`, async () => {
    const inv = await inventoryOf(dir);
    assert.ok(inv.guests.size >= 7);
    for (const g of inv.guests.values()) {
      const want = desiredSettings(g);
      const have = roundTripCreate(g);
      const [w, h] = comparable(want, have);
      assert.deepEqual(h, w, `guest ${g.id}`);
      assert.deepEqual(settingsDiff(want, have), [], `guest ${g.id}`);
    }
  });

  test(`round trip (${label}): clone + config + resize → parse equals the model's settings`, async () => {
    const inv = await inventoryOf(dir);
    let n = 0;
    for (const g of inv.guests.values()) {
      if (g.cloneFrom === undefined) continue;
      const source = inv.guests.get(g.cloneFrom)!;
      const want = desiredSettings(g);
      const have = roundTripClone(g, source);
      const diff = settingsDiff(want, have);
      const srcDisk = source.resources.diskGb ?? 0;
      if ((g.resources.diskGb ?? 0) < srcDisk) {
        // Only the disk differs: the template is larger and Proxmox cannot shrink (see the 1001 test).
        assert.deepEqual(diff, [{ field: 'diskGb', from: srcDisk, to: g.resources.diskGb }], `guest ${g.id}`);
      } else assert.deepEqual(diff, [], `guest ${g.id}`);
      n++;
    }
    assert.ok(n >= 4, `${n} clones`);
  });
}

test('settingsDiff reports a changed memory size (drift shown by plan) and nothing else', async () => {
  const g = lxcOf(await inventoryOf(EXAMPLE), 103);
  const plan = lxcCreateParams(g, { template: 't' });
  const stored = storeLxc(g.id, plan.params);
  stored.memory = '2048';
  const have = parseGuestSettings('lxc', confText(stored, plan.rawLines));
  assert.deepEqual(settingsDiff(desiredSettings(g), have), [{ field: 'memoryMb', from: 2048, to: 1024 }]);
  // Unmanaged (unset) fields are not drift; a MAC differing only in case is not drift.
  assert.deepEqual(
    settingsDiff(
      { ...desiredSettings(g), cores: undefined, mac: '52:54:00:aa:bb:ca' },
      { ...have, cores: 64, memoryMb: 1024 },
    ),
    [],
  );
});

test('parse: pct/qm config output and API objects, unknown keys, defaults, startup and memory forms', () => {
  const pct = [
    'arch: amd64',
    'cores: 2',
    'features: nesting=1',
    'hostname: ca',
    'net0: name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=bc:24:11:0a:0b:0c,ip=10.0.0.10/24,type=veth',
    'nameserver: 10.0.0.13,8.8.8.8',
    'onboot: 1',
    'rootfs: local-lvm:vm-103-disk-0,size=512M',
    'startup: 3',
    'some-future-key: whatever',
    'lxc.idmap: u 0 100000 65536',
    'lxc.apparmor.profile = unconfined',
  ].join('\n');
  const parsed = parseConfigText(pct);
  assert.deepEqual(parsed.lxc, [
    ['lxc.idmap', 'u 0 100000 65536'],
    ['lxc.apparmor.profile', 'unconfined'],
  ]);
  assert.deepEqual(parseGuestSettings('lxc', parsed), {
    name: 'ca',
    cores: 2,
    memoryMb: 512,
    diskGb: 0.5,
    ip: '10.0.0.10/24',
    gateway: '10.0.0.1',
    mac: 'BC:24:11:0A:0B:0C',
    nameservers: ['10.0.0.13', '8.8.8.8'],
    onBoot: true,
    bootOrder: 3,
    bootDelaySeconds: 0,
    unprivileged: false,
  });
  const api = configFromApi({
    digest: 'd1g3st',
    name: 'vm',
    memory: 'current=2048',
    cores: 3,
    onboot: 0,
    boot: 'order=ide2;net0;virtio0',
    ide2: 'local:iso/x.iso,media=cdrom',
    virtio0: 'local-lvm:vm-1-disk-0,size=1T',
    net0: 'e1000=52:54:00:12:34:56,bridge=vmbr1',
    ipconfig0: 'gw=10.0.0.1,ip=10.0.0.5/24',
    startup: 'up=9,order=2,down=5',
    lxc: [['lxc.x', 'y']],
  });
  assert.equal(api.digest, 'd1g3st');
  assert.deepEqual(parseGuestSettings('vm', api), {
    name: 'vm',
    cores: 3,
    memoryMb: 2048,
    diskGb: 1024,
    ip: '10.0.0.5/24',
    gateway: '10.0.0.1',
    mac: '52:54:00:12:34:56',
    onBoot: false,
    bootOrder: 2,
    bootDelaySeconds: 9,
  });
  assert.equal(bootDisk({ bootdisk: 'sata0', sata0: 'x:vm-1-disk-0,size=8G' }), 'sata0');
  assert.equal(bootDisk({ ide2: 'x,media=cdrom', scsi1: 'x:y,size=1G' }), 'scsi1');
  // Snapshot sections are not the current configuration.
  const snap = parseConfigText('memory: 1024\n\n[snap1]\nmemory: 8\n\n[pve:pending]\nmemory: 9\n');
  assert.equal(snap.options.memory, '1024');
  assert.deepEqual(snap.snapshots, ['snap1']);
});

test('mergeRawLines replaces inherited id map and profile lines, keeps others and snapshot sections', () => {
  const inherited =
    'arch: amd64\nlxc.idmap: u 0 100000 65536\nlxc.apparmor.profile: generated\nlxc.cgroup2.devices.allow: c 195:* rwm\n\n[final-form]\nlxc.idmap: u 0 100000 65536\n';
  const out = mergeRawLines(inherited, [
    { key: 'lxc.idmap', value: 'u 0 100000 65536' },
    { key: 'lxc.idmap', value: 'g 33 33 1' },
    { key: 'lxc.apparmor.profile', value: 'unconfined' },
  ]);
  assert.equal(
    out,
    'arch: amd64\nlxc.cgroup2.devices.allow: c 195:* rwm\nlxc.idmap: u 0 100000 65536\nlxc.idmap: g 33 33 1\nlxc.apparmor.profile: unconfined\n\n[final-form]\nlxc.idmap: u 0 100000 65536\n',
  );
  assert.equal(
    mergeRawLines(out, [
      { key: 'lxc.idmap', value: 'u 0 100000 65536' },
      { key: 'lxc.idmap', value: 'g 33 33 1' },
      { key: 'lxc.apparmor.profile', value: 'unconfined' },
    ]),
    out,
    'idempotent',
  );
});

test('fstab merge replaces entries for the same mount point and keeps the rest', () => {
  const entries = [
    {
      line: '10.0.0.13:/x /data nfs defaults,_netdev 0 0',
      mountPoint: '/data',
      origin: { file: 'f', pointer: '' },
    },
  ];
  const before = '# /etc/fstab\nLABEL=root / ext4 defaults 0 1\n10.0.0.9:/old /data nfs ro 0 0\n';
  const after = mergeFstab(before, entries);
  assert.equal(
    after,
    '# /etc/fstab\nLABEL=root / ext4 defaults 0 1\n10.0.0.13:/x /data nfs defaults,_netdev 0 0\n',
  );
  assert.equal(mergeFstab(after, entries), after);
});

test('disk resize plan: absolute sizes, nothing when equal, shrink refused', () => {
  assert.deepEqual(diskResizePlan('scsi0', 64, 50), {
    action: 'grow',
    params: { disk: 'scsi0', size: '64G' },
  });
  assert.deepEqual(diskResizePlan('rootfs', 16, 16), { action: 'none' });
  assert.deepEqual(diskResizePlan('rootfs', undefined, 16), { action: 'none' });
  assert.equal(diskResizePlan('scsi0', 8, 3584 / 1024 + 10).action, 'refuse');
});

// ------------------------------------------------------------------ cluster

test('pickVmid: lowest free id from the start, skipping used and reserved', () => {
  assert.equal(pickVmid(new Set([100, 101, 103]), new Set([102]), 100), 104);
  assert.equal(pickVmid(new Set(), new Set(), 5000), 5000);
  assert.equal(pickVmid(new Set(), new Set(), 1), 100);
});

test('concurrent creates in one run never collide on a VMID', async () => {
  const used = usedVmids([
    { type: 'lxc', id: 'lxc/100', vmid: 100, node: 'a' },
    { type: 'qemu', id: 'qemu/102', node: 'b' },
  ]);
  assert.deepEqual([...used].sort(), [100, 102]);
  const reservations = new VmidReservations();
  // 200 creates interleaving at awaits; each reserves, "creates" after a random delay, some fail and release.
  const got: number[] = [];
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * 7919) % 5));
      const id = reservations.reserve(used);
      await new Promise((r) => setTimeout(r, (i * 104729) % 7));
      if (i % 10 === 0) reservations.release(id);
      else got.push(id);
    }),
  );
  assert.equal(new Set(got).size, got.length, 'no id handed out twice');
  assert.ok(got.every((id) => !used.has(id) && id >= 100));
  assert.equal(got.length, 180);
  // With a caller-grown set, pickVmid alone gives distinct ids as well.
  const reserved = new Set<number>();
  for (let i = 0; i < 50; i++) reserved.add(pickVmid(used, reserved));
  assert.equal(reserved.size, 50);
});

const GiB = 1024 ** 3;
const NODES: NodeInfo[] = [
  {
    name: 'pve1',
    online: true,
    maxmem: 64 * GiB,
    mem: 60 * GiB,
    storages: ['local-lvm', 'ceph'],
    bridges: ['vmbr0'],
  },
  {
    name: 'pve2',
    online: true,
    maxmem: 128 * GiB,
    mem: 40 * GiB,
    storages: ['local-lvm'],
    bridges: ['vmbr0'],
  },
  {
    name: 'pve3',
    online: false,
    maxmem: 256 * GiB,
    mem: 0,
    storages: ['local-lvm', 'ceph'],
    bridges: ['vmbr0'],
  },
  { name: 'pve4', online: true, maxmem: 256 * GiB, mem: 10 * GiB, storages: ['ceph'], bridges: ['vmbr1'] },
];

test('pickNode: auto takes the online node with most free memory that has storage and bridge', () => {
  assert.equal(pickNode(NODES, { storage: 'local-lvm', bridge: 'vmbr0' }, 'auto'), 'pve2');
  assert.equal(pickNode(NODES, { storage: 'local-lvm', bridge: 'vmbr0' }), 'pve2');
  // pve3 (offline) and pve4 (no vmbr0) are passed over despite more free memory.
  assert.equal(pickNode(NODES, { storage: 'ceph', bridge: 'vmbr0' }, 'auto'), 'pve1');
  assert.equal(pickNode(NODES, { storage: 'ceph', bridge: 'vmbr1' }, 'auto'), 'pve4');
  assert.throws(
    () => pickNode(NODES, { storage: 'zfs', bridge: 'vmbr0' }, 'auto'),
    (e: unknown) =>
      e instanceof NodeSelectionError &&
      e.reason === 'no-candidate' &&
      /pve3: offline/.test(e.message) &&
      /pve2: no storage zfs/.test(e.message),
  );
});

test('pickNode: a declared node must exist, be online and have storage and bridge', () => {
  assert.equal(pickNode(NODES, { storage: 'local-lvm', bridge: 'vmbr0' }, 'pve1'), 'pve1');
  const fails = (declared: string, need: { storage: string; bridge: string }, reason: string, re: RegExp) =>
    assert.throws(
      () => pickNode(NODES, need, declared),
      (e: unknown) =>
        e instanceof NodeSelectionError && e.reason === reason && e.node === declared && re.test(e.message),
    );
  fails('pve3', { storage: 'local-lvm', bridge: 'vmbr0' }, 'offline', /node pve3 is declared but offline/);
  fails(
    'pve9',
    { storage: 'local-lvm', bridge: 'vmbr0' },
    'unknown-node',
    /no such node \(nodes: pve1, pve2, pve3, pve4\)/,
  );
  fails('pve2', { storage: 'ceph', bridge: 'vmbr0' }, 'missing-storage', /pve2 has no storage ceph/);
  fails('pve4', { storage: 'ceph', bridge: 'vmbr0' }, 'missing-bridge', /pve4 has no bridge vmbr0/);
});

test('guestNodes: vmid → node from /cluster/resources; guests on offline nodes are reported, not dropped', () => {
  const res = guestNodes([
    { type: 'node', id: 'node/pve1', node: 'pve1', status: 'online' },
    { type: 'node', id: 'node/pve2', node: 'pve2', status: 'offline' },
    { type: 'storage', id: 'storage/pve1/local', node: 'pve1', status: 'available' },
    { type: 'lxc', id: 'lxc/101', vmid: 101, node: 'pve1', status: 'running', name: 'gw' },
    { type: 'qemu', id: 'qemu/9000', vmid: 9000, node: 'pve1', status: 'stopped', template: 1 },
    { type: 'qemu', id: 'qemu/1001', vmid: 1001, node: 'pve2', status: 'unknown', name: 'Portainer' },
    { type: 'lxc', id: 'lxc/103', vmid: 103, node: 'pve3', status: 'unknown' },
  ]);
  assert.deepEqual(
    [...res.guests.keys()].sort((a, b) => a - b),
    [101, 103, 1001, 9000],
  );
  assert.equal(res.guests.get(101)?.node, 'pve1');
  assert.equal(res.guests.get(101)?.kind, 'lxc');
  assert.equal(res.guests.get(9000)?.template, true);
  assert.deepEqual(
    res.unreachable.map((g) => [g.vmid, g.node]),
    [
      [103, 'pve3'],
      [1001, 'pve2'],
    ],
  );
  assert.deepEqual(res.conflicts, []);
  const dup = guestNodes([
    { type: 'lxc', vmid: 101, node: 'a' },
    { type: 'lxc', vmid: 101, node: 'b' },
  ]);
  assert.deepEqual(dup.conflicts, [{ vmid: 101, nodes: ['a', 'b'] }]);
});

test("the administrative user's SSH key reaches every VM through cloud-init", async () => {
  const inv = await inventoryOf(EXAMPLE);
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbLmW7zVd1u8zQ admin@phoenix';
  const withKey = {
    ...inv,
    hypervisor: { ...inv.hypervisor, users: { username: 'phoenix_admin', ssh_public_key: key } },
  };
  const params = qemuConfigParams(vmOf(inv, 1001), mappingFromInventory(withKey).qemu);
  assert.ok(params.sshkeys, 'sshkeys is set');
  assert.deepEqual(decodeSshKeys(params.sshkeys), [key]);
  assert.equal(qemuConfigParams(vmOf(inv, 1001), mappingFromInventory(inv).qemu).sshkeys, undefined);
});
