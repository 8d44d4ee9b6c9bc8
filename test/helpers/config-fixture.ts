import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse, type Analysis } from '../../src/analyse.js';
import type { Diagnostic } from '../../src/config/diagnostics.js';

/** A small, valid config in the original file layout, to mutate in tests. */
export interface FixtureFiles {
  hypervisor?: unknown;
  lxc?: unknown;
  vm?: unknown;
  certificates?: unknown;
  /** name → { phoenix.json content, docker-compose.yml text } */
  stacks?: Record<string, { config: unknown; compose: string }>;
  /** extra raw files, path relative to the config dir → text */
  raw?: Record<string, string>;
}

export function baseHypervisor(): Record<string, unknown> {
  return {
    domain_name: 'internal.example',
    target: 'lab',
    network: { interfaces: { name: 'vmbr0', address: '10.0.0.13/24', gateway: '10.0.0.1' } },
    dns_server: { enabled: true, upstream_servers: ['10.0.0.1'] },
    step_ca: { guest: 103, provisioner_name: 'admin@internal.example' },
  };
}

export function lxc(name: string, ip: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    memory_mb: 1024,
    cores: 1,
    storage_pool: 'local-lvm',
    storage_size_gb: 8,
    network_config: { name: 'eth0', bridge: 'vmbr0', ip: `${ip}/24`, gw: '10.0.0.1' },
    ...extra,
  };
}

export function vm(
  vmid: number,
  name: string,
  ip: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { vmid, name, network_config: { ip: `${ip}/24`, gw: '10.0.0.1' }, ...extra };
}

/** step-ca in 103, gateway in 101 (unprivileged, gid 33 mapped through). */
export function baseLxc(): { lxc_configs: Record<string, unknown> } {
  return {
    lxc_configs: {
      '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'] }),
      '101': lxc('gateway', '10.0.0.153', {
        features: ['nginx'],
        dependencies: ['103'],
        id_maps: [{ type: 'gid', host_id: 33, container_id: 33, size: 1 }],
      }),
    },
  };
}

export function writeFixture(files: FixtureFiles): string {
  const dir = mkdtempSync(join(tmpdir(), 'phoenix-fixture-'));
  const put = (name: string, value: unknown) =>
    writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  put('phoenix_hypervisor_config.json', files.hypervisor ?? baseHypervisor());
  put('phoenix_lxc_configs.json', files.lxc ?? baseLxc());
  if (files.vm !== undefined) put('phoenix_vm_configs.json', files.vm);
  if (files.certificates !== undefined) put('certificate-manifest.json', files.certificates);
  for (const [name, s] of Object.entries(files.stacks ?? {})) {
    mkdirSync(join(dir, 'stacks', name), { recursive: true });
    put(join('stacks', name, 'phoenix.json'), s.config);
    writeFileSync(join(dir, 'stacks', name, 'docker-compose.yml'), s.compose);
  }
  for (const [rel, text] of Object.entries(files.raw ?? {})) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

/** Writes the fixture, analyses it, removes it. */
export async function analyseFixture(files: FixtureFiles): Promise<Analysis> {
  const dir = writeFixture(files);
  try {
    return await analyse(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function codes(a: Analysis, severity?: 'error' | 'warning'): string[] {
  return a.diagnostics.items.filter((d) => !severity || d.severity === severity).map((d) => d.code);
}

export function find(a: Analysis, code: string): Diagnostic[] {
  return a.diagnostics.items.filter((d) => d.code === code);
}
