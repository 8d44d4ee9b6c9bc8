import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A deterministic synthetic topology for benchmarks and scale tests: a valid config directory (the
 * original file set plus stacks/<name>/{phoenix.json,docker-compose.yml}) with any number of guests.
 *
 * Shape, after the reference homelab: a step-ca LXC, an unprivileged nginx gateway LXC (gid 33 mapped
 * through), a Traefik LXC, a Portainer VM, a few templates that others clone from, and then a ~70/30
 * mix of LXCs and VMs with dependency chains, firewall rules, routed services, certificates delivered
 * into guests with a follow-up each, and Docker stacks deployed onto VMs. All addresses are 10.x inside
 * the host's /8; nothing ever connects to them.
 */

export interface SyntheticOptions {
  /** Total number of guests, templates and infrastructure guests included. At least 8. */
  guests: number;
  /** Default: one per guest. */
  certificates?: number;
  /** Default: guests / 4. Each is deployed onto one docker VM. */
  stacks?: number;
  /** Default 1. Same seed and options → byte-identical files. */
  seed?: number;
}

export interface SyntheticSummary {
  readonly guests: number;
  readonly lxcs: number;
  readonly vms: number;
  readonly templates: number;
  readonly certificates: number;
  readonly stacks: number;
  readonly files: number;
  readonly bytes: number;
}

export const SYNTHETIC_DOMAIN = 'bench.internal.example';
export const MIN_GUESTS = 8;

const HOST_IP = '10.0.0.13';
const GATEWAY_IP = '10.0.0.1';
const SUBNET = '10.0.0.0/8';
const MAX_CHAIN = 20;
const FIRST_ID = 100;

/** mulberry32: a tiny, fast, seedable PRNG; plenty for shaping test data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/** Guest index → a unique address spread over 10.0.0.0/8, never in 10.0.0.x (host, gateway). */
export function syntheticIp(index: number): string {
  const o2 = 1 + (index % 250);
  const o3 = Math.floor(index / 250) % 256;
  const o4 = 10 + Math.floor(index / 64000);
  if (o4 > 254) throw new Error(`too many guests for the synthetic address plan (${index})`);
  return `10.${o2}.${o3}.${o4}`;
}

/** Guest index → a unique, locally administered unicast MAC. */
export function syntheticMac(index: number): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
  return `52:54:00:${hex((index >> 16) & 0xff)}:${hex((index >> 8) & 0xff)}:${hex(index & 0xff)}`;
}

/** The roles ordinary guests play: name prefix, the service a certificate reload restarts, a port. */
const ROLES = [
  { role: 'web', service: 'nginx', port: 8080 },
  { role: 'api', service: 'api-server', port: 8000 },
  { role: 'db', service: 'postgresql', port: 5432 },
  { role: 'cache', service: 'redis-server', port: 6379 },
  { role: 'queue', service: 'rabbitmq-server', port: 5671 },
  { role: 'search', service: 'opensearch', port: 9200 },
  { role: 'metrics', service: 'prometheus', port: 9090 },
  { role: 'logs', service: 'loki', port: 3100 },
  { role: 'auth', service: 'keycloak', port: 8443 },
  { role: 'git', service: 'gitea', port: 3000 },
  { role: 'ml', service: 'vllm', port: 8001 },
  { role: 'mail', service: 'postfix', port: 587 },
] as const;
type Role = (typeof ROLES)[number];

const IMAGES = [
  'nginx:1.27',
  'redis:7',
  'postgres:16',
  'qdrant/qdrant:v1.12.0',
  'grafana/grafana:11.3.0',
  'minio/minio:latest',
];

type GuestKind = 'lxc' | 'vm';
type Special = 'ca' | 'gateway' | 'traefik' | 'portainer';

interface GuestPlan {
  index: number;
  id: number;
  kind: GuestKind;
  name: string;
  ip: string;
  role: Role;
  template: boolean;
  special?: Special;
  /** The port its service listens on (firewall rules point at it). */
  port: number;
  /** Longest chain of requirements ending here (1 = needs nothing). */
  depth: number;
  dependencies: number[];
  cloneFrom?: number;
  routed?: { name: string; port: number; scheme?: 'http' | 'https' };
  stacks: StackPlan[];
}

interface StackPlan {
  name: string;
  vm: number;
  services: Array<{ name: string; container: string; image: string; port: number }>;
  volume: string;
  nfs: boolean;
}

type Json = Record<string, unknown>;

/** Writes a synthetic config into `dir` (created if needed) and returns what it wrote. */
export function writeSyntheticConfig(dir: string, opts: SyntheticOptions): SyntheticSummary {
  const total = Math.floor(opts.guests);
  if (!(total >= MIN_GUESTS))
    throw new Error(`synthetic config needs at least ${MIN_GUESTS} guests (got ${opts.guests})`);
  const certCount = Math.max(0, Math.floor(opts.certificates ?? total));
  const stackCount = Math.max(0, Math.floor(opts.stacks ?? total / 4));
  const rng = new Rng(opts.seed ?? 1);
  const domain = SYNTHETIC_DOMAIN;

  // ---------- guests ----------
  const guests: GuestPlan[] = [];
  const make = (kind: GuestKind, role: Role, extra: Partial<GuestPlan> = {}): GuestPlan => {
    const index = guests.length;
    const id = FIRST_ID + index;
    const g: GuestPlan = {
      index,
      id,
      kind,
      name: `${role.role}-${id}`,
      ip: syntheticIp(index),
      role,
      port: role.port,
      template: false,
      depth: 1,
      dependencies: [],
      stacks: [],
      ...extra,
    };
    guests.push(g);
    return g;
  };
  const byId = (id: number) => guests[id - FIRST_ID]!;
  const link = (g: GuestPlan) => {
    const reqs = [...g.dependencies, ...(g.cloneFrom !== undefined ? [g.cloneFrom] : [])];
    g.depth = 1 + Math.max(0, ...reqs.map((r) => byId(r).depth));
  };

  const templateCount = Math.max(2, Math.min(24, Math.round(total / 250)));
  const lxcTemplates: number[] = [];
  const vmTemplates: number[] = [];
  for (let t = 0; t < templateCount; t++) {
    const kind: GuestKind = t % 2 === 0 ? 'lxc' : 'vm';
    const g = make(kind, ROLES[0], { template: true, name: `tpl-${kind}-${t}` });
    (kind === 'lxc' ? lxcTemplates : vmTemplates).push(g.id);
  }
  const base = (kind: GuestKind) => (kind === 'lxc' ? lxcTemplates[0]! : vmTemplates[0]!);

  const ca = make('lxc', ROLES[0], { special: 'ca', name: 'step-ca', cloneFrom: base('lxc') });
  ca.port = 9000;
  ca.routed = { name: 'ca', port: 9000, scheme: 'https' };
  link(ca);
  const gateway = make('lxc', ROLES[0], {
    special: 'gateway',
    name: 'gateway',
    cloneFrom: base('lxc'),
    dependencies: [ca.id],
  });
  gateway.port = 443;
  link(gateway);
  const traefik = make('lxc', ROLES[0], {
    special: 'traefik',
    name: 'traefik',
    cloneFrom: base('lxc'),
    dependencies: [ca.id],
  });
  traefik.port = 443;
  link(traefik);
  const portainer = make('vm', ROLES[0], {
    special: 'portainer',
    name: 'portainer',
    cloneFrom: base('vm'),
    dependencies: [traefik.id],
  });
  portainer.port = 9443;
  portainer.routed = { name: 'portainer', port: 9443, scheme: 'https' };
  link(portainer);

  // Ordinary guests: ~70 % LXC, each needing 0–2 earlier guests, chains kept to MAX_CHAIN.
  const firstOrdinary = guests.length;
  while (guests.length < total) {
    // The first is a VM so that even the smallest topology has somewhere to deploy stacks.
    const kind: GuestKind = guests.length === firstOrdinary || !rng.chance(0.7) ? 'vm' : 'lxc';
    const g = make(kind, rng.pick(ROLES));
    const templates = kind === 'lxc' ? lxcTemplates : vmTemplates;
    if (rng.chance(0.6)) g.cloneFrom = rng.pick(templates);
    const want = rng.int(0, 2);
    const candidates = g.index - firstOrdinary;
    for (let k = 0; k < want && candidates > 0; k++) {
      // Mostly recent guests (chains), sometimes anything earlier (fan-in); retry when a chain would grow too long.
      for (let attempt = 0; attempt < 4; attempt++) {
        const back = rng.chance(0.8) ? rng.int(1, Math.min(candidates, 40)) : rng.int(1, candidates);
        const dep = guests[g.index - back]!;
        if (dep.depth >= MAX_CHAIN - 1 || g.dependencies.includes(dep.id)) continue;
        g.dependencies.push(dep.id);
        break;
      }
    }
    if (g.dependencies.length === 0 && rng.chance(0.3)) g.dependencies.push(ca.id);
    if (rng.chance(0.3)) g.routed = { name: `${g.role.role}-${g.id}`, port: g.role.port };
    link(g);
  }

  const active = guests.filter((g) => !g.template);
  const dockerVms = active.filter((g) => g.kind === 'vm' && g.special !== 'portainer');
  if (stackCount > 0 && dockerVms.length === 0)
    throw new Error('no VM to deploy stacks to; raise the guest count');

  // ---------- stacks ----------
  // Portainer's own server runs on its VM (the primary) as a stack deployed there directly.
  const server: StackPlan = {
    name: 'portainer_service',
    vm: portainer.id,
    services: [
      {
        name: 'portainer',
        container: 'portainer_server',
        image: 'portainer/portainer-ce:2.21.4',
        port: 9443,
      },
    ],
    volume: 'portainer_data',
    nfs: false,
  };
  portainer.stacks.push(server);
  const stacks: StackPlan[] = [server];
  for (let s = 0; s < stackCount; s++) {
    const vm = dockerVms[s % dockerVms.length]!;
    const name = `app${String(s).padStart(5, '0')}_service`;
    const serviceCount = rng.int(1, 2);
    const services = Array.from({ length: serviceCount }, (_, k) => ({
      name: k === 0 ? 'app' : 'sidecar',
      container: `${name}_${k === 0 ? 'app' : 'sidecar'}`,
      image: rng.pick(IMAGES),
      // One host port per service across the whole topology: stacks sharing a VM never collide.
      port: 20000 + s * 2 + k,
    }));
    const plan: StackPlan = { name, vm: vm.id, services, volume: `${name}_data`, nfs: rng.chance(0.3) };
    vm.stacks.push(plan);
    stacks.push(plan);
  }

  // ---------- files ----------
  const files = new Map<string, string>();
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

  const nfsClients = [...new Set(stacks.filter((s) => s.nfs).map((s) => byId(s.vm).ip))];
  files.set('phoenix_hypervisor_config.json', json(hypervisorFile(domain, ca, portainer, nfsClients)));

  const lxcConfigs: Json = {};
  for (const g of guests)
    if (g.kind === 'lxc') lxcConfigs[String(g.id)] = lxcEntry(g, rng, guests, gateway, ca);
  files.set('phoenix_lxc_configs.json', json({ lxc_configs: lxcConfigs }));

  const vms = guests.filter((g) => g.kind === 'vm').map((g) => vmEntry(g, rng, guests, gateway, ca));
  files.set(
    'phoenix_vm_configs.json',
    json({
      vm_defaults: {
        template: 'ubuntu-24.04-standard',
        cores: 2,
        memory_mb: 4096,
        disk_size_gb: 32,
        storage_pool: 'local-lvm',
        network_bridge: 'vmbr0',
      },
      vms,
    }),
  );

  // Certificates go to every active guest but the Portainer VM (its TLS is Portainer's own business).
  const recipients = active.filter((g) => g.special !== 'portainer');
  files.set(
    'certificate-manifest.json',
    json(certificateFile(certCount, domain, ca, gateway, traefik, recipients, rng)),
  );

  for (const s of stacks) {
    files.set(`stacks/${s.name}/phoenix.json`, json(stackFile(s, byId(s.vm), domain, gateway)));
    files.set(`stacks/${s.name}/docker-compose.yml`, composeFile(s));
  }

  mkdirSync(join(dir, 'stacks'), { recursive: true });
  let bytes = 0;
  for (const [rel, text] of files) {
    const path = join(dir, rel);
    if (rel.startsWith('stacks/')) mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    bytes += Buffer.byteLength(text);
  }

  return {
    guests: guests.length,
    lxcs: guests.filter((g) => g.kind === 'lxc').length,
    vms: guests.filter((g) => g.kind === 'vm').length,
    templates: guests.filter((g) => g.template).length,
    certificates: certCount,
    stacks: stacks.length,
    files: files.size,
    bytes,
  };
}

function hypervisorFile(domain: string, ca: GuestPlan, portainer: GuestPlan, nfsClients: string[]): Json {
  return {
    version: '1.0.0',
    target: 'lab',
    domain_name: domain,
    users: { username: 'phoenix_admin', sudo_access: true },
    timezone: 'Europe/Berlin',
    network: {
      portainer_server_ip: portainer.ip,
      portainer_server_port: 9443,
      portainer_agent_port: 9001,
      interfaces: { name: 'vmbr0', address: `${HOST_IP}/8`, gateway: GATEWAY_IP, dns_nameservers: [HOST_IP] },
      default_subnet: SUBNET,
      nfs_server: HOST_IP,
      fallback_dns: GATEWAY_IP,
    },
    docker: {
      portainer_server_image: 'portainer/portainer-ce:2.21.4',
      portainer_agent_image: 'portainer/agent:2.21.4',
    },
    nfs: {
      exports: [
        {
          path: '/srv/vm-persistent-data',
          clients: nfsClients.length ? nfsClients : [HOST_IP],
          options: ['rw', 'sync', 'no_subtree_check', 'no_root_squash'],
        },
      ],
    },
    behavior: { rollback_on_failure: false, debug_mode: false },
    firewall: {
      enabled: true,
      default_input_policy: 'DROP',
      default_output_policy: 'ACCEPT',
      global_firewall_rules: [
        { type: 'in', action: 'ACCEPT', proto: 'tcp', port: '80,443', comment: 'HTTP(S) to the gateway' },
        {
          type: 'in',
          action: 'ACCEPT',
          source: SUBNET,
          dest: HOST_IP,
          proto: 'udp',
          port: '53',
          comment: 'DNS on the host',
        },
        {
          type: 'in',
          action: 'ACCEPT',
          source: SUBNET,
          dest: HOST_IP,
          proto: 'tcp',
          port: '2049',
          comment: 'NFS on the host',
        },
      ],
    },
    portainer_api: {
      admin_user: 'admin',
      admin_password: 'file:/etc/phoenix/secrets/portainer-admin',
      portainer_hostname: `portainer.${domain}`,
    },
    dns_server: {
      enabled: true,
      upstream_servers: [GATEWAY_IP],
      authoritative_zones: [domain],
      listen: HOST_IP,
    },
    step_ca: {
      root_ca_name: 'Bench Root CA',
      intermediate_ca_name: 'Bench Intermediate CA',
      dns_name: `ca.${domain}`,
      provisioner_name: 'admin',
      guest: ca.id,
      port: 9000,
      provisioner_password: 'file:/etc/phoenix/secrets/provisioner',
    },
  };
}

/** 2–4 rules per guest, every address another guest's, the host's or the subnet. */
function firewallRules(
  g: GuestPlan,
  rng: Rng,
  guests: GuestPlan[],
  gateway: GuestPlan,
  ca: GuestPlan,
): Json[] {
  const rules: Json[] = [
    {
      type: 'out',
      action: 'ACCEPT',
      dest: HOST_IP,
      proto: 'udp',
      port: '53',
      comment: 'DNS queries to the host',
    },
    g.special === 'gateway'
      ? {
          type: 'in',
          action: 'ACCEPT',
          source: SUBNET,
          proto: 'tcp',
          port: '80,443',
          comment: 'HTTP(S) from the lab network',
        }
      : {
          type: 'in',
          action: 'ACCEPT',
          source: gateway.ip,
          proto: 'tcp',
          port: String(g.port),
          comment: 'proxied traffic from the gateway',
        },
  ];
  const extra = rng.int(0, 2);
  for (let k = 0; k < extra; k++) {
    const dep = g.dependencies.length
      ? guests[g.dependencies[k % g.dependencies.length]! - FIRST_ID]!
      : undefined;
    if (k === 0 && dep) {
      rules.push({
        type: 'out',
        action: 'ACCEPT',
        dest: dep.ip,
        proto: 'tcp',
        port: String(dep.port),
        comment: `to ${dep.name}`,
      });
    } else if (k === 0) {
      rules.push({
        type: 'out',
        action: 'ACCEPT',
        dest: ca.ip,
        proto: 'tcp',
        port: '9000',
        comment: 'certificate requests to step-ca',
      });
    } else {
      rules.push({
        type: 'in',
        action: 'ACCEPT',
        source: SUBNET,
        proto: 'tcp',
        port: '22',
        comment: 'ssh from the lab network',
      });
    }
  }
  return rules;
}

function lxcEntry(g: GuestPlan, rng: Rng, guests: GuestPlan[], gateway: GuestPlan, ca: GuestPlan): Json {
  const e: Json = {
    name: g.name,
    start_at_boot: !g.template,
    boot_order: g.template ? 0 : Math.min(g.depth, 99),
    memory_mb: g.template ? 1024 : rng.pick([512, 1024, 2048, 4096]),
    cores: g.template ? 1 : rng.int(1, 4),
    ...(g.cloneFrom === undefined
      ? { template: '/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst' }
      : {}),
    storage_pool: 'local-lvm',
    storage_size_gb: g.template ? 8 : rng.pick([8, 16, 32]),
    network_config: { name: 'eth0', bridge: 'vmbr0', ip: `${g.ip}/8`, gw: GATEWAY_IP, nameservers: HOST_IP },
    mac_address: syntheticMac(g.index),
    gpu_assignment: 'none',
    portainer_role: 'none',
    unprivileged: true,
  };
  if (g.template) {
    e.features = ['base_setup'];
    e.template_snapshot_name = 'final-form';
    return e;
  }
  if (g.special === 'gateway') e.id_maps = [{ type: 'gid', host_id: 33, container_id: 33, size: 1 }];
  if (g.cloneFrom !== undefined) e.clone_from_ctid = g.cloneFrom;
  e.features = lxcFeatures(g);
  if (g.routed) e.traefik_service = g.routed;
  if (g.dependencies.length) e.dependencies = g.dependencies;
  e.firewall = { enabled: true, rules: firewallRules(g, rng, guests, gateway, ca) };
  return e;
}

function lxcFeatures(g: GuestPlan): string[] {
  switch (g.special) {
    case 'ca':
      return ['base_setup', 'step_ca'];
    case 'gateway':
      return ['base_setup', 'trusted_ca', 'step_cli', 'nginx'];
    case 'traefik':
      return ['base_setup', 'trusted_ca', 'step_cli', 'traefik'];
    default:
      return ['base_setup', 'trusted_ca'];
  }
}

function vmEntry(g: GuestPlan, rng: Rng, guests: GuestPlan[], gateway: GuestPlan, ca: GuestPlan): Json {
  if (g.template) {
    return {
      vmid: g.id,
      name: g.name,
      is_template: true,
      template_image: 'noble-server-cloudimg-amd64.img',
      template_snapshot_name: 'initial_clean_state',
      network_config: { ip: 'dhcp', nameserver: HOST_IP },
      user_config: { username: 'phoenix_user' },
    };
  }
  const e: Json = {
    vmid: g.id,
    name: g.name,
    ...(g.cloneFrom !== undefined ? { clone_from_vmid: g.cloneFrom } : {}),
    cores: rng.pick([2, 4, 8]),
    memory_mb: rng.pick([2048, 4096, 8192]),
    disk_size_gb: rng.pick([32, 64, 128]),
    start_at_boot: true,
    boot_order: Math.min(g.depth, 99),
    boot_delay: 2,
    features: ['base_setup', 'trusted_ca', 'step_cli', 'docker'],
    portainer_role: g.special === 'portainer' ? 'primary' : 'agent',
    ...(g.special === 'portainer' ? {} : { portainer_environment_name: g.name }),
    network_config: { ip: `${g.ip}/8`, gw: GATEWAY_IP, nameserver: HOST_IP },
    mac_address: syntheticMac(g.index),
    user_config: { username: 'phoenix_user' },
  };
  if (g.routed) e.traefik_service = g.routed;
  if (g.stacks.length) e.docker_stacks = g.stacks.map((s) => s.name);
  if (g.dependencies.length) e.dependencies = g.dependencies;
  e.firewall = { enabled: true, rules: firewallRules(g, rng, guests, gateway, ca) };
  return e;
}

function certificateFile(
  count: number,
  domain: string,
  ca: GuestPlan,
  gateway: GuestPlan,
  traefik: GuestPlan,
  recipients: GuestPlan[],
  rng: Rng,
): Json {
  const certificates: Json[] = [];
  const pair = (dir: string, base: string, keyGroup = 'root', keyMode = '0600') => ({
    key: { path: `${dir}/${base}.key`, owner: 'root', group: keyGroup, mode: keyMode },
    cert: { path: `${dir}/${base}.crt`, owner: 'root', group: 'root', mode: '0644' },
  });
  // Certificates go round the active guests, so the same guest receives several with distinct paths.
  for (let c = 0; c < count; c++) {
    const g = c === 0 ? gateway : c === 1 ? traefik : recipients[c % recipients.length]!;
    const cn = c === 0 ? `gateway.${domain}` : c === 1 ? `traefik.${domain}` : `${g.name}-c${c}.${domain}`;
    const base = c < 2 ? cn : `c${c}`;
    let install: Json;
    let followUp: Json;
    if (g.special === 'gateway') {
      install = { guest: g.id, ...pair('/etc/nginx/ssl', base, 'www-data', '0640') };
      followUp = { type: 'reload-service', guest: g.id, service: 'nginx' };
    } else if (g.special === 'traefik') {
      install = { guest: g.id, ...pair('/etc/traefik/certs', base) };
      followUp = { type: 'reload-service', guest: g.id, service: 'traefik' };
    } else if (g.special === 'ca') {
      install = { guest: g.id, ...pair('/etc/step-ca/tls', base) };
      followUp = { type: 'reload-service', guest: g.id, service: 'step-ca' };
    } else if (g.stacks.length) {
      const stack = g.stacks[c % g.stacks.length]!;
      install = { guest: g.id, ...pair(`/srv/${stack.name}/certs`, base) };
      followUp = { type: 'restart-container', guest: g.id, container: stack.services[0]!.container };
    } else {
      install = { guest: g.id, ...pair(`/etc/ssl/${g.role.service}`, base) };
      followUp = { type: 'reload-service', guest: g.id, service: g.role.service };
    }
    if (c % 5 === 0)
      (install as { chain?: unknown }).chain = { path: `/etc/ssl/certs/phoenix-${base}-chain.pem` };
    const sans = c === 0 ? [cn, `*.${domain}`] : [cn];
    certificates.push({
      common_name: cn,
      sans,
      ...(g.kind === 'vm' || rng.chance(0.2) ? { ip_sans: [g.ip] } : {}),
      usage: 'server',
      ...(rng.chance(0.1) ? { key_type: 'rsa-3072' } : {}),
      install: [install],
      follow_up: followUp,
    });
  }
  return {
    issuers: {
      internal: {
        type: 'step-ca-jwk',
        url: `https://ca.${domain}:9000`,
        provisioner: 'admin',
        password: 'file:/etc/phoenix/secrets/provisioner',
        guest: ca.id,
      },
    },
    defaults: { issuer: 'internal', key_type: 'ecdsa-p256', lifetime: '720h', renew_window: 0.33 },
    certificates,
  };
}

function stackFile(s: StackPlan, vm: GuestPlan, domain: string, gateway: GuestPlan): Json {
  const app = s.services[0]!;
  const router = s.name.replace(/_/g, '-');
  return {
    description: `Synthetic stack ${s.name} on ${vm.name}.`,
    volumes: {
      [s.volume]: s.nfs
        ? {
            driver: 'nfs',
            server: HOST_IP,
            export: `/srv/vm-persistent-data/${vm.id}/${s.name}`,
            options: 'nfsvers=4.2',
          }
        : { driver: 'local' },
    },
    environments: {
      production: {
        variables: [{ name: 'APP_PORT', value: String(app.port) }],
        services: {
          [app.name]: {
            traefik_labels: [
              'traefik.enable=true',
              `traefik.http.routers.${router}.rule=Host(\`${router}.${domain}\`)`,
              `traefik.http.services.${router}.loadbalancer.server.port=${app.port}`,
            ],
          },
        },
        firewall_rules: s.services.map((svc) => ({
          type: 'in',
          action: 'ACCEPT',
          source: gateway.ip,
          proto: 'tcp',
          port: String(svc.port),
          comment: `${svc.name} through the gateway`,
        })),
      },
    },
  };
}

function composeFile(s: StackPlan): string {
  const lines = ['services:'];
  for (const svc of s.services) {
    lines.push(
      `  ${svc.name}:`,
      `    image: ${svc.image}`,
      `    container_name: ${svc.container}`,
      '    restart: unless-stopped',
      '    ports:',
      `      - "${svc.port}:${svc.port}"`,
      '    volumes:',
      `      - ${s.volume}:/data`,
      `      - /srv/${s.name}/certs:/certs:ro`,
      '    environment:',
      `      - APP_PORT=${svc.port}`,
    );
  }
  lines.push('', 'volumes:', `  ${s.volume}:`, '    external: true', '');
  return lines.join('\n');
}
