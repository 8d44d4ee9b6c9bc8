import { z } from 'zod';
import {
  absPath,
  cidr,
  guestFirewall,
  guestIdNumber,
  guestIdRef,
  ipv4,
  macAddress,
  portMapping,
  safeName,
  testSuites,
  traefikService,
} from './common.js';

/** Fields LXCs and VMs share. */
const bootFields = {
  start_at_boot: z.boolean().optional(),
  boot_order: z.number().int().min(0).optional(),
  boot_delay: z.number().int().min(0).optional(),
};

const guestName = safeName.max(63);

// ---------- LXC: phoenix_lxc_configs.json ----------

const idMap = z.strictObject({
  type: z.enum(['uid', 'gid']),
  host_id: z.number().int().min(0),
  container_id: z.number().int().min(0),
  size: z.number().int().min(1),
});

const lxcMountPoint = z.strictObject({
  host_path: absPath,
  container_path: absPath,
  owner_uid: z.number().int().min(0).optional(),
  owner_gid: z.number().int().min(0).optional(),
  read_only: z.boolean().optional(),
});

const vllmEngineConfig = z.strictObject({
  ModelConfig: z.strictObject({
    model: z.string().min(1),
    trust_remote_code: z.boolean(),
    dtype: z.string(),
    max_model_len: z.number().int().positive(),
  }),
  CacheConfig: z.strictObject({
    quantization: z.string().optional(),
    gpu_memory_utilization: z.number().gt(0).max(1),
  }),
  ParallelConfig: z.strictObject({ tensor_parallel_size: z.number().int().positive() }),
  ServerConfig: z.strictObject({
    host: ipv4,
    port: z.number().int().min(1).max(65535),
    served_model_name: z.string().min(1),
  }),
});

export const LXC_FEATURES = [
  'base_setup',
  'nvidia',
  'docker',
  'vllm',
  'portainer',
  'dns_server',
  'nat_gateway',
  'ollama',
  'python_api_service',
  'step_ca',
  'step_cli',
  'traefik',
  'trusted_ca',
  'nginx',
] as const;

export const lxcGuest = z.strictObject({
  name: guestName,
  ...bootFields,
  memory_mb: z.number().int().min(16),
  swap_mb: z.number().int().min(0).optional(),
  cores: z.number().int().min(1).max(512),
  template: absPath.optional(),
  storage_pool: safeName,
  storage_size_gb: z.number().int().min(1),
  network_config: z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9]{0,14}$/, { error: 'must be an interface name like eth0' }),
    bridge: safeName,
    ip: z.union([cidr, z.literal('dhcp')]),
    gw: ipv4.optional(),
    nameservers: z
      .string()
      .regex(/^(\d{1,3}(\.\d{1,3}){3})([ ,]\d{1,3}(\.\d{1,3}){3})*$/, {
        error: 'must be IPv4 addresses separated by spaces or commas',
      })
      .optional(),
  }),
  mac_address: macAddress.optional(),
  gpu_assignment: z
    .string()
    .regex(/^(none|[0-9]+( ?, ?[0-9]+)*)$/, { error: 'must be "none" or GPU indices like "0,1"' })
    .optional(),
  portainer_role: z.enum(['server', 'agent', 'none', 'infrastructure']).optional(),
  unprivileged: z
    .boolean()
    .optional()
    .meta({ description: 'Unprivileged container (uid shift through id maps). Default true.' }),
  id_maps: z.array(idMap).optional(),
  features: z.array(z.enum(LXC_FEATURES)).optional(),
  vllm_engine_config: vllmEngineConfig.optional(),
  template_snapshot_name: safeName.optional(),
  clone_from_ctid: guestIdRef.optional(),
  application_script: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, { error: 'must be a script file name' })
    .optional(),
  pct_options: z
    .array(z.string().regex(/^[a-z_]+=[A-Za-z0-9_.,:=/-]+$/, { error: 'must be key=value' }))
    .optional(),
  lxc_options: z
    .array(
      z
        .string()
        .regex(/^lxc\.[a-z0-9_.]+[:=][A-Za-z0-9_.,:=/ -]*$/, { error: 'must be an lxc.* key and value' }),
    )
    .optional(),
  ports: z.array(portMapping).optional(),
  traefik_service: traefikService.optional(),
  bootstrap_ca_url: z.url().optional(),
  health_check: z
    .strictObject({
      command: absPath,
      retries: z.number().int().min(0).optional(),
      interval: z.number().int().min(0).optional(),
    })
    .optional(),
  firewall: guestFirewall.optional(),
  dependencies: z.array(guestIdRef).optional(),
  tests: testSuites.optional(),
  zfs_volumes: z
    .array(
      z.strictObject({
        name: safeName,
        pool: safeName,
        size_gb: z.number().int().min(1),
        mount_point: absPath,
      }),
    )
    .optional(),
  mount_points: z.array(lxcMountPoint).optional(),
  apparmor_profile: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .optional(),
  apparmor_manages_nesting: z.boolean().optional(),
  enable_lifecycle_snapshots: z.boolean().optional(),
  trigger_sync_on_completion: z.boolean().optional(),
  node: z
    .string()
    .regex(/^(auto|[A-Za-z0-9][A-Za-z0-9-]*)$/)
    .optional()
    .meta({ description: 'Proxmox node name, or "auto".' }),
});
export type LxcGuestConfig = z.infer<typeof lxcGuest>;

export const lxcConfigFile = z
  .strictObject({
    $schema: z.string().optional(),
    nvidia_driver_version: z.string().optional(),
    nvidia_repo_url: z.url().optional(),
    nvidia_runfile_url: z.url().optional(),
    lxc_configs: z.record(
      z.string().regex(/^[1-9]\d{2,8}$/, { error: 'keys must be container ids from 100 to 999999999' }),
      lxcGuest,
    ),
  })
  .meta({ title: 'Phoenix LXC configuration', description: 'phoenix_lxc_configs.json' });
export type LxcConfigFile = z.infer<typeof lxcConfigFile>;

// ---------- VM: phoenix_vm_configs.json ----------

const vmVolume = z.strictObject({
  type: z.enum(['nfs']),
  name: safeName,
  path: absPath,
  mount_point: absPath,
  server: ipv4,
  options: z.string().optional(),
});

const dockerStackRef = z.union([safeName, z.strictObject({ name: safeName, environment: safeName })]);

export const vmGuest = z.strictObject({
  vmid: guestIdNumber,
  name: guestName,
  is_template: z.boolean().optional(),
  clone_from_vmid: guestIdRef.optional(),
  template_image: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, { error: 'must be an image file name' })
    .optional(),
  template: safeName.optional(),
  cores: z.number().int().min(1).max(512).optional(),
  memory_mb: z.number().int().min(16).optional(),
  disk_size_gb: z.number().int().min(1).optional(),
  storage_pool: safeName.optional(),
  network_bridge: safeName.optional(),
  ...bootFields,
  features: z.array(safeName).optional(),
  portainer_role: z.enum(['primary', 'agent', 'none']).optional(),
  portainer_environment_name: safeName.optional(),
  portainer_agent_hostname: z.string().optional(),
  snapshots: z
    .strictObject({ 'pre-features': safeName.optional(), 'post-features': safeName.optional() })
    .optional(),
  template_snapshot_name: safeName.optional(),
  count: z.number().int().min(1).optional(),
  qm_options: z
    .array(z.string().regex(/^--?[a-z0-9_-]+( [A-Za-z0-9_.,:=/-]+)?$|^[a-z0-9_]+=[A-Za-z0-9_.,:=/-]+$/))
    .optional(),
  volumes: z.array(vmVolume).optional(),
  docker_stacks: z.array(dockerStackRef).optional(),
  firewall: guestFirewall.optional(),
  network_config: z
    .strictObject({
      ip: z.union([cidr, z.literal('dhcp')]),
      gw: ipv4.optional(),
      nameserver: ipv4.optional(),
    })
    .optional(),
  mac_address: macAddress.optional(),
  user_config: z.strictObject({ username: safeName, ssh_public_key: z.string().optional() }).optional(),
  dns_records: z.array(z.strictObject({ hostname: z.string(), ip: ipv4 })).optional(),
  traefik_service: traefikService.optional(),
  trigger_sync_on_completion: z.boolean().optional(),
  dependencies: z.array(guestIdRef).optional(),
  tests: testSuites.optional(),
  node: z
    .string()
    .regex(/^(auto|[A-Za-z0-9][A-Za-z0-9-]*)$/)
    .optional(),
});
export type VmGuestConfig = z.infer<typeof vmGuest>;

export const vmConfigFile = z
  .strictObject({
    $schema: z.string().optional(),
    vm_defaults: z
      .strictObject({
        template: safeName.optional(),
        cores: z.number().int().min(1).optional(),
        memory_mb: z.number().int().min(16).optional(),
        disk_size_gb: z.number().int().min(1).optional(),
        storage_pool: safeName.optional(),
        network_bridge: safeName.optional(),
      })
      .optional(),
    vms: z.array(vmGuest),
  })
  .meta({ title: 'Phoenix VM configuration', description: 'phoenix_vm_configs.json' });
export type VmConfigFile = z.infer<typeof vmConfigFile>;
