import { z } from 'zod';
import {
  absPath,
  cidr,
  dnsName,
  firewallRule,
  guestIdRef,
  ipv4,
  port,
  relPath,
  safeName,
  schemaRef,
  secret,
  testEntry,
} from './common.js';

/** phoenix_hypervisor_config.json: the host, its storage and network, shared services. */

const sharedVolume = z.strictObject({
  host_path: absPath,
  /** guest id → path inside that guest */
  mounts: z.record(z.string().regex(/^\d+$/, { error: 'keys must be guest ids' }), absPath),
});

const sharedFirewall = z.strictObject({
  enabled: z.boolean(),
  default_input_policy: z.enum(['ACCEPT', 'DROP', 'REJECT']).optional(),
  default_output_policy: z.enum(['ACCEPT', 'DROP', 'REJECT']).optional(),
  global_firewall_rules: z.array(firewallRule).optional(),
});

/**
 * How Phoenix reaches the Proxmox host or cluster. The API transport needs a token (by reference) and the
 * node's certificate pinned; LXC exec and file push are not in the API, so they always go through `pct`,
 * locally on the node or over SSH. The CLI transport does everything with pct/qm/pvesh.
 */
const proxmoxConnection = z.strictObject({
  transport: z
    .enum(['api', 'cli'])
    .optional()
    .meta({ description: 'REST API (default) or pct/qm/pvesh on the node.' }),
  host: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/, { error: 'must be a host name or IPv4 address' })
    .optional()
    .meta({ description: 'The node to talk to; omit to run pct/qm/pvesh locally on it.' }),
  api: z
    .strictObject({
      port: port.optional(),
      token_id: z
        .string()
        .regex(/^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z0-9._-]+$/, { error: 'must be USER@REALM!TOKENID' }),
      token_secret: secret,
      fingerprint: z
        .string()
        .regex(/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/, { error: 'must be a SHA-256 fingerprint AB:CD:…' })
        .optional(),
      ca_file: absPath.optional(),
    })
    .optional(),
  ssh: z
    .strictObject({
      destination: z
        .string()
        .regex(/^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+$/, { error: 'must be [user@]host' })
        .optional(),
      port: port.optional(),
      identity_file: absPath.optional(),
      config_file: absPath.optional(),
      nodes: z
        .record(
          z.string().regex(/^[A-Za-z0-9-]+$/, { error: 'must be a Proxmox node name' }),
          z.string().regex(/^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+$/, { error: 'must be [user@]host' }),
        )
        .optional()
        .meta({
          description:
            'Clusters: node name → [user@]host, for pct on the node that holds a container (pct acts on local containers only).',
        }),
    })
    .optional()
    .meta({ description: 'SSH to the node (OpenSSH, your ~/.ssh/config applies); default root@host.' }),
  node_concurrency: z.number().int().min(1).max(32).optional(),
});

export const hypervisorConfig = z
  .strictObject({
    $schema: schemaRef,
    version: z.string().optional(),
    author: z.string().optional(),
    target: z
      .enum(['lab', 'proxmox'])
      .optional()
      .meta({ description: 'Where `phoenix sync` acts: the local lab (default) or a real Proxmox VE host.' }),
    domain_name: dnsName,
    users: z
      .strictObject({
        username: safeName,
        password_hash: z.string().optional(),
        sudo_access: z.boolean().optional(),
        ssh_public_key: z.string().optional(),
      })
      .optional(),
    core_paths: z.record(z.string(), absPath).optional(),
    timezone: z
      .string()
      .regex(/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/)
      .optional(),
    network: z
      .strictObject({
        external_registry_url: z.string().optional(),
        portainer_server_ip: ipv4.optional(),
        portainer_server_port: port.optional(),
        portainer_agent_port: port.optional(),
        interfaces: z
          .strictObject({
            name: safeName,
            address: cidr,
            gateway: ipv4.optional(),
            dns_nameservers: z.array(ipv4).optional(),
          })
          .optional(),
        default_subnet: cidr.optional(),
        nfs_server: ipv4.optional(),
        fallback_dns: ipv4.optional(),
      })
      .optional(),
    docker: z
      .strictObject({
        portainer_server_image: z.string().min(1).optional(),
        portainer_agent_image: z.string().min(1).optional(),
      })
      .optional(),
    nfs: z
      .strictObject({
        exports: z.array(
          z.strictObject({
            path: absPath,
            clients: z.array(ipv4),
            options: z.array(z.string().regex(/^[a-z_]+(=[A-Za-z0-9_:,.-]+)?$/)).optional(),
          }),
        ),
      })
      .optional(),
    samba: z
      .strictObject({
        user: safeName,
        shares: z.array(
          z.strictObject({
            name: safeName,
            path: relPath,
            options: z.string().optional(),
            valid_users: z.array(safeName).optional(),
          }),
        ),
      })
      .optional(),
    zfs: z
      .strictObject({
        arc_max_gb: z.number().positive().optional(),
        pools: z.array(
          z.strictObject({
            name: safeName,
            raid_level: z.enum(['single', 'mirror', 'raidz', 'raidz1', 'raidz2', 'raidz3', 'stripe']),
            disks: z.array(absPath),
          }),
        ),
        datasets: z.array(
          z.strictObject({
            name: safeName,
            pool: safeName,
            properties: z.string().regex(/^[a-z:]+=[A-Za-z0-9.]+(,[a-z:]+=[A-Za-z0-9.]+)*$/, {
              error: 'must be comma-separated zfs properties like "recordsize=128K,compression=lz4"',
            }),
            proxmox_storage_type: z.enum(['zfspool', 'dir']),
            proxmox_content_type: z.string().regex(/^[a-z]+(,[a-z]+)*$/),
            storage_class: z.enum(['direct', 'shared']).optional(),
          }),
        ),
      })
      .optional(),
    proxmox_storage_ids: z.record(z.string(), safeName).optional(),
    mount_point_base: absPath.optional(),
    proxmox_defaults: z
      .strictObject({
        zfs_lxc_pool: z.string().optional(),
        lxc: z
          .strictObject({
            cores: z.number().int().positive().optional(),
            memory_mb: z.number().int().positive().optional(),
            network_config: z.string().optional(),
            features: z.string().optional(),
            security: z.string().optional(),
            nesting: z.number().int().min(0).max(1).optional(),
          })
          .optional(),
      })
      .optional(),
    tests: z.record(z.string(), z.array(testEntry)).optional(),
    nvidia_driver: z
      .strictObject({
        install: z.boolean(),
        version: z.string().optional(),
        runfile_url: z.url().optional(),
        cuda_version: z.string().optional(),
        install_vllm_libs: z.boolean().optional(),
      })
      .optional(),
    behavior: z
      .strictObject({ rollback_on_failure: z.boolean().optional(), debug_mode: z.boolean().optional() })
      .optional(),
    /** In the original file, `firewall` sits inside shared_volumes; both places are accepted. */
    shared_volumes: z
      .strictObject({ firewall: sharedFirewall.optional() })
      .catchall(sharedVolume)
      .optional()
      .meta({
        description:
          'Host directories bind-mounted into guests. The legacy "firewall" entry here is read as the cluster firewall.',
      }),
    firewall: sharedFirewall.optional(),
    proxmox: proxmoxConnection
      .optional()
      .meta({ description: 'How Phoenix reaches Proxmox VE when `target` is "proxmox".' }),
    portainer_api: z
      .strictObject({
        admin_user: safeName,
        admin_password: secret.optional(),
        agent_secret: secret.optional().meta({
          description:
            'Shared secret of the Portainer server and its agents (AGENT_SECRET): an agent answers only the server that knows it.',
        }),
        portainer_hostname: dnsName.optional(),
      })
      .optional(),
    vm_defaults: z.strictObject({ ubuntu_release: safeName.optional() }).optional(),
    dns_server: z
      .strictObject({
        enabled: z.boolean(),
        upstream_servers: z.array(ipv4).optional(),
        authoritative_zones: z.array(dnsName).optional(),
        listen: ipv4.optional(),
      })
      .optional(),
    step_ca: z
      .strictObject({
        root_ca_name: z.string().optional(),
        intermediate_ca_name: z.string().optional(),
        dns_name: dnsName.optional(),
        provisioner_name: safeName.optional(),
        guest: guestIdRef
          .optional()
          .meta({ description: 'The guest that runs step-ca (defaults to the guest with feature step_ca).' }),
        port: port.optional(),
        provisioner_password: secret.optional(),
        acme_provisioner: safeName.optional(),
      })
      .optional(),
  })
  .meta({ title: 'Phoenix hypervisor configuration', description: 'phoenix_hypervisor_config.json' });

export type HypervisorConfig = z.infer<typeof hypervisorConfig>;
