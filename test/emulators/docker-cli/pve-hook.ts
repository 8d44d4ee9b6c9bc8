import type { ExecHook } from '../pve-api/agent-commands.js';
import type { DockerCliEmulator } from './cli.js';

/**
 * Plugs the docker CLI emulator into the Proxmox API emulator's guest agent: `docker ...` run in a VM is
 * answered by that VM's daemon (keyed by VMID), reading compose and env files from the VM's filesystem;
 * anything else goes to `next` or the agent's own programs. Docker not installed: the agent cannot spawn it.
 */
export function dockerExecHook(docker: DockerCliEmulator, next?: ExecHook): ExecHook {
  return (guest, argv, input) => {
    if (argv[0] !== 'docker') return next?.(guest, argv, input);
    const r = docker.run(guest.vmid, argv, { read: (path) => guest.files.get(path)?.toString('utf8') });
    return r && { exitcode: r.exitCode, out: r.stdout, err: r.stderr };
  };
}
