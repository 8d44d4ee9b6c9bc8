import type { Origin } from '../../../config/diagnostics.js';

/**
 * A value from the configuration that cannot be written into a Proxmox guest option (or a combination
 * Proxmox refuses). Located: names the config file and JSON pointer, the Proxmox option and the reason.
 */
export class ProxmoxConfigError extends Error {
  constructor(
    readonly origin: Origin | undefined,
    /** The Proxmox option the value was meant for: "net0", "mp1", "lxc.idmap", "sshkeys"… */
    readonly option: string,
    readonly detail: string,
  ) {
    super(`${where(origin)}${option}: ${detail}`);
    this.name = 'ProxmoxConfigError';
  }
}

function where(origin: Origin | undefined): string {
  if (!origin) return '';
  return origin.pointer ? `${origin.file} at ${origin.pointer}: ` : `${origin.file}: `;
}
