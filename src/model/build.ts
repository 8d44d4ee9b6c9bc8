import { joinPointer, pointer, type Diagnostics, type Origin } from '../config/diagnostics.js';
import type { LoadedStack, RawConfig } from '../config/load.js';
import type { FirewallRuleConfig } from '../config/schema/common.js';
import type { LxcGuestConfig, VmConfigFile, VmGuestConfig } from '../config/schema/guest.js';
import type { HypervisorConfig } from '../config/schema/hypervisor.js';
import { buildCertificates } from './certificates.js';
import { effectiveIdMap } from './idmap.js';
import type {
  DockerVolume,
  FirewallPolicy,
  Guest,
  GuestId,
  Inventory,
  LxcGuest,
  Mount,
  RoutedService,
  SecretUse,
  Stack,
  StackDeployment,
  VmGuest,
} from './inventory.js';
import { secretUse } from './secrets.js';

const HTTPS_PORTS = new Set([443, 8443, 9443]);

/**
 * Config files → inventory. Normalises the original format's quirks (ids as strings or numbers, firewall
 * under shared_volumes, certificates with host paths) so that nothing downstream needs to know them.
 */
export function buildInventory(raw: RawConfig, diags: Diagnostics): Inventory | undefined {
  const hv = raw.hypervisor;
  if (!hv) return undefined;
  const h = hv.data;
  const domain = h.domain_name;
  const guests = new Map<GuestId, Guest>();
  const claim = (g: Guest) => {
    const prior = guests.get(g.id);
    if (prior) {
      diags.error(
        g.origin,
        'guest.duplicate-id',
        `guest id ${g.id} is already used by ${prior.kind.toUpperCase()} "${prior.name}" (${prior.origin.file}); ids are shared by containers and VMs`,
      );
      return;
    }
    guests.set(g.id, g);
  };

  if (raw.lxc) {
    for (const [key, cfg] of Object.entries(raw.lxc.data.lxc_configs)) {
      claim(buildLxc(Number(key), cfg, { file: raw.lxc.file, pointer: pointer('lxc_configs', key) }, domain));
    }
  }
  if (raw.vm) {
    raw.vm.data.vms.forEach((cfg, i) => {
      claim(
        buildVm(
          cfg,
          { file: raw.vm!.file, pointer: pointer('vms', i) },
          domain,
          raw.stacks,
          raw.vm!.data.vm_defaults,
        ),
      );
    });
  }
  addSharedVolumeMounts(h, hv.file, guests);

  const stacks = new Map<string, Stack>();
  for (const s of raw.stacks.values()) {
    const stack = buildStack(s);
    if (stack) stacks.set(s.name, stack);
  }

  const secrets: SecretUse[] = [];
  const noteSecret = (value: string | undefined, ptr: string) => {
    if (value !== undefined) secrets.push(secretUse(value, { file: hv.file, pointer: ptr }));
  };
  noteSecret(h.portainer_api?.admin_password, '/portainer_api/admin_password');
  noteSecret(h.portainer_api?.agent_secret, '/portainer_api/agent_secret');
  noteSecret(h.step_ca?.provisioner_password, '/step_ca/provisioner_password');

  const { certificates, issuers } = buildCertificates(raw, h, guests, secrets);

  return {
    configDir: raw.dir,
    target: h.target ?? 'lab',
    domain,
    hostAddress: h.network?.interfaces?.address.split('/')[0],
    hypervisor: h,
    guests,
    certificates,
    issuers,
    stacks,
    clusterFirewall: clusterFirewall(h, hv.file, diags),
    dns: { enabled: h.dns_server?.enabled ?? false, upstream: h.dns_server?.upstream_servers ?? [] },
    secrets,
  };
}

function guestIdOf(ref: string | number): GuestId {
  return typeof ref === 'number' ? ref : Number(ref);
}

function firewallOf(
  cfg: { enabled: boolean; rules?: FirewallRuleConfig[] } | undefined,
  origin: Origin,
): FirewallPolicy {
  return {
    enabled: cfg?.enabled ?? false,
    rules: (cfg?.rules ?? []).map((r, i) => ({
      ...r,
      origin: { file: origin.file, pointer: joinPointer(origin.pointer, 'firewall', 'rules', i) },
    })),
  };
}

function routedOf(
  svc:
    | { name: string; port: number; scheme?: 'http' | 'https'; hostname?: string; health_path?: string }
    | undefined,
  origin: Origin,
  domain: string,
): RoutedService | undefined {
  if (!svc) return undefined;
  return {
    name: svc.name,
    hostname: svc.hostname ?? `${svc.name}.${domain}`,
    port: svc.port,
    scheme: svc.scheme ?? (HTTPS_PORTS.has(svc.port) ? 'https' : 'http'),
    healthPath: svc.health_path,
    origin: { file: origin.file, pointer: joinPointer(origin.pointer, 'traefik_service') },
  };
}

function splitAddress(ip: string | undefined): { ip?: string; prefixLength?: number } {
  if (!ip || ip === 'dhcp') return {};
  const [addr, prefix] = ip.split('/');
  return { ip: addr, prefixLength: prefix === undefined ? undefined : Number(prefix) };
}

/** The fields containers and VMs declare the same way. */
function sharedFields(cfg: LxcGuestConfig | VmGuestConfig, origin: Origin, domain: string) {
  return {
    dependencies: (cfg.dependencies ?? []).map(guestIdOf),
    mac: cfg.mac_address,
    boot: {
      onBoot: cfg.start_at_boot ?? false,
      order: cfg.boot_order ?? 0,
      delaySeconds: cfg.boot_delay ?? 0,
    },
    features: cfg.features ?? [],
    routed: routedOf(cfg.traefik_service, origin, domain),
    firewall: firewallOf(cfg.firewall, origin),
    node: cfg.node,
    snapshotName: cfg.template_snapshot_name,
  };
}

function buildLxc(id: GuestId, cfg: LxcGuestConfig, origin: Origin, domain: string): LxcGuest {
  const unprivileged = cfg.unprivileged ?? true;
  const mounts: Mount[] = (cfg.mount_points ?? []).map((m, i) => ({
    hostPath: m.host_path,
    guestPath: m.container_path,
    ownerUid: m.owner_uid,
    ownerGid: m.owner_gid,
    origin: { file: origin.file, pointer: joinPointer(origin.pointer, 'mount_points', i) },
  }));
  return {
    kind: 'lxc',
    id,
    name: cfg.name,
    origin,
    // The original marks clone sources by giving them a snapshot to clone from and no autostart.
    isTemplate: cfg.template_snapshot_name !== undefined && cfg.start_at_boot !== true,
    cloneFrom: cfg.clone_from_ctid === undefined ? undefined : guestIdOf(cfg.clone_from_ctid),
    ...sharedFields(cfg, origin, domain),
    ...splitAddress(cfg.network_config.ip),
    gateway: cfg.network_config.gw,
    nameservers: cfg.network_config.nameservers?.split(/[ ,]+/).filter(Boolean) ?? [],
    resources: {
      cores: cfg.cores,
      memoryMb: cfg.memory_mb,
      diskGb: cfg.storage_size_gb,
      storage: cfg.storage_pool,
      template: cfg.template,
    },
    unprivileged,
    idMap: effectiveIdMap(unprivileged, cfg.id_maps),
    mounts,
    config: cfg,
  };
}

function buildVm(
  cfg: VmGuestConfig,
  origin: Origin,
  domain: string,
  stacks: ReadonlyMap<string, LoadedStack>,
  defaults: VmConfigFile['vm_defaults'],
): VmGuest {
  const deployments: StackDeployment[] = (cfg.docker_stacks ?? []).map((ref, i) => {
    const name = typeof ref === 'string' ? ref : ref.name;
    const envs = Object.keys(stacks.get(name)?.config?.environments ?? {});
    const environment =
      typeof ref === 'string' ? (envs.length === 1 ? envs[0]! : 'production') : ref.environment;
    return {
      stack: name,
      environment,
      origin: { file: origin.file, pointer: joinPointer(origin.pointer, 'docker_stacks', i) },
    };
  });
  return {
    kind: 'vm',
    id: cfg.vmid,
    name: cfg.name,
    origin,
    isTemplate: cfg.is_template ?? false,
    cloneFrom: cfg.clone_from_vmid === undefined ? undefined : guestIdOf(cfg.clone_from_vmid),
    ...sharedFields(cfg, origin, domain),
    ...splitAddress(cfg.network_config?.ip),
    gateway: cfg.network_config?.gw,
    nameservers: cfg.network_config?.nameserver ? [cfg.network_config.nameserver] : [],
    resources: {
      cores: cfg.cores ?? defaults?.cores,
      memoryMb: cfg.memory_mb ?? defaults?.memory_mb,
      diskGb: cfg.disk_size_gb ?? defaults?.disk_size_gb,
      storage: cfg.storage_pool ?? defaults?.storage_pool,
      template: cfg.template_image ?? cfg.template ?? defaults?.template,
    },
    stacks: deployments,
    config: cfg,
  };
}

/** hypervisor `shared_volumes` bind-mount host directories into guests; they are mounts like any other. */
function addSharedVolumeMounts(h: HypervisorConfig, file: string, guests: Map<GuestId, Guest>): void {
  for (const [name, vol] of Object.entries(h.shared_volumes ?? {})) {
    if (name === 'firewall' || !vol || !('host_path' in vol)) continue;
    for (const [gid, guestPath] of Object.entries(vol.mounts)) {
      const g = guests.get(Number(gid));
      if (g?.kind !== 'lxc') continue;
      (g.mounts as Mount[]).push({
        hostPath: vol.host_path,
        guestPath,
        origin: { file, pointer: pointer('shared_volumes', name, 'mounts', gid) },
      });
    }
  }
}

function clusterFirewall(
  h: HypervisorConfig,
  file: string,
  diags: Diagnostics,
): Inventory['clusterFirewall'] {
  const legacy = h.shared_volumes?.firewall;
  if (legacy && h.firewall) {
    diags.error(
      { file, pointer: '/shared_volumes/firewall' },
      'firewall.two-writers',
      'the cluster firewall is declared twice (here and in /firewall); keep one',
    );
  }
  const cfg = h.firewall ?? legacy;
  const base = h.firewall ? '/firewall' : '/shared_volumes/firewall';
  return {
    enabled: cfg?.enabled ?? false,
    policyIn: cfg?.default_input_policy ?? 'DROP',
    policyOut: cfg?.default_output_policy ?? 'ACCEPT',
    rules: (cfg?.global_firewall_rules ?? []).map((r, i) => ({
      ...r,
      origin: { file, pointer: `${base}/global_firewall_rules/${i}` },
    })),
  };
}

function buildStack(s: LoadedStack): Stack | undefined {
  if (!s.config || !s.compose || s.composeText === undefined) return undefined;
  const origin: Origin = { file: s.file, pointer: '' };
  const volumes: DockerVolume[] = s.compose.externalVolumes.map((name) => {
    const decl = s.config!.volumes?.[name];
    const declOrigin = decl
      ? { file: s.file, pointer: pointer('volumes', name) }
      : { file: s.composeFile, pointer: '' };
    if (!decl) return { name, driver: 'local', declared: false, origin: declOrigin };
    return decl.driver === 'nfs'
      ? {
          name,
          driver: 'nfs',
          server: decl.server,
          export: decl.export,
          options: decl.options,
          declared: true,
          origin: declOrigin,
        }
      : { name, driver: 'local', declared: true, origin: declOrigin };
  });
  const requires = (s.config.requires ?? []).map((id, i) => ({
    id,
    origin: { file: s.file, pointer: pointer('requires', i) },
  }));
  return {
    name: s.name,
    origin,
    composeFile: s.composeFile,
    composeText: s.composeText,
    config: s.config,
    compose: s.compose,
    volumes,
    requires,
  };
}
