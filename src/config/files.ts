/** The file set of a config directory, shared with the original system. */
export const HYPERVISOR_FILE = 'phoenix_hypervisor_config.json';
export const LXC_FILE = 'phoenix_lxc_configs.json';
export const VM_FILE = 'phoenix_vm_configs.json';
export const CERT_FILE = 'certificate-manifest.json';
export const STACKS_DIR = 'stacks';
export const STACK_FILE = 'phoenix.json';
export const COMPOSE_FILE = 'docker-compose.yml';

export const DEFAULT_CONFIG_DIR = '/usr/local/phoenix_hypervisor/etc';

export function resolveConfigDir(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.PHOENIX_CONFIG_DIR ?? DEFAULT_CONFIG_DIR;
}
