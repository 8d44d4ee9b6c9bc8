import { readFileSync } from 'node:fs';
import { forwardPvesh } from './forward.js';
import { pct } from './pct.js';
import { pvesh } from './pvesh.js';
import { qm } from './qm.js';
import { Die, withState } from './state.js';
import type { ToolOutput } from './tool.js';

/**
 * A STAND-IN for Proxmox VE's `pct`, `qm` and `pvesh` command-line tools, for tests of Phoenix's CLI
 * transport (src/drivers/proxmox/cli/). It is not Proxmox and runs no containers or VMs. It follows the
 * documented behaviour (pct(1), qm(1), pvesh(1), and the sources they are generated from: pve-container
 * src/PVE/CLI/pct.pm, qemu-server src/PVE/CLI/qm.pm and src/PVE/API2/Qemu/Agent.pm, pve-common's CLIHandler)
 * for exactly these subcommands:
 *
 *   pct exec ID [--keep-env 0|1] -- CMD...   runs CMD with the small command set of guest-commands.ts against
 *                                            the guest's root dir; an unknown CMD fails like lxc-attach (127)
 *   pct push ID FILE DEST [--user U] [--group G] [--perms MODE]
 *                                            copies FILE into the guest root; owner/mode recorded in the state
 *                                            (MODE octal unless 0x-prefixed; names via the guest's users/groups)
 *   pct pull ID PATH DEST                    copies a guest file to DEST on the host
 *   pct status ID | pct config ID | pct start|stop|shutdown|destroy ID
 *   qm guest exec ID [--timeout S] [--pass-stdin 1] -- CMD...   prints the agent's exec-status JSON
 *   qm guest exec-status ID PID | qm status|config|start|stop|shutdown|destroy ID
 *   pvesh get|create|set|delete PATH ... --output-format json    for the paths listed in pvesh.ts
 *
 * Errors are printed to stderr with the texts the real tools die with and exit 255, e.g.
 * "Configuration file 'nodes/pve/lxc/999.conf' does not exist", "container '101' not running!",
 * "CT 101 not running", "can only push files to a running CT", "VM 1001 is not running",
 * "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout" (injected through `faults.lockTimeout`
 * in the state file; lock-taking commands: push, pull, start, stop, shutdown, destroy, pvesh set config).
 * `faults.execOutput` makes `qm guest exec` print non-JSON or the timed-out `{"pid": N}`.
 *
 * Not emulated (but see FORWARDING MODE below): tasks/UPIDs, create/clone, snapshots, clusters, text output formats of pvesh, real process
 * execution, real ownership (recorded, not applied). Every invocation is appended to `log` in the state.
 *
 * The state file's path comes from PVE_EMU_STATE; the executables `pct`, `qm`, `pvesh` are small wrappers
 * written by install.ts that set it and call `main`.
 *
 * FORWARDING MODE (`installStandIn(..., { forward })`, which makes the wrappers set PVE_EMU_FORWARD to a 0600
 * file with the API emulator's URL, token and CA): `pvesh` no longer uses pvesh.ts and the state's guests but
 * forwards every call to the HTTPS API emulator (test/emulators/pve-api) and prints its answer as the real
 * pvesh does — data as JSON, a task's output before its UPID, errors as "CODE MESSAGE" + "param: message"
 * lines (see forward.ts). So one emulated cluster serves both transports. pct and qm are unchanged (LXC exec
 * and push are not in the API); invocations are still logged in the state. Without the option nothing
 * changes.
 */
export async function main(tool: string, args: string[]): Promise<number> {
  const statePath = process.env.PVE_EMU_STATE;
  if (!statePath) {
    process.stderr.write('pve-cli stand-in: PVE_EMU_STATE is not set\n');
    return 2;
  }
  let stdinCache: Buffer | undefined;
  const stdin = () => (stdinCache ??= readFileSync(0));
  let result: ToolOutput;
  try {
    const forward = tool === 'pvesh' ? process.env.PVE_EMU_FORWARD : undefined;
    if (forward) {
      // Logged under the state lock, forwarded outside it: the API emulator serialises its own state.
      await withState(statePath, async (state) => void state.log.push([tool, ...args]));
      result = await forwardPvesh(forward, args);
    } else
      result = await withState(statePath, async (state) => {
        state.log.push([tool, ...args]);
        if (tool === 'pct') return pct(statePath, state, args, stdin);
        if (tool === 'qm') return qm(statePath, state, args, stdin);
        if (tool === 'pvesh') return pvesh(statePath, state, args);
        throw new Die(`${tool}: not emulated`, 127);
      });
  } catch (e) {
    if (!(e instanceof Die)) throw e;
    result = { exitCode: e.exitCode, stdout: Buffer.alloc(0), stderr: `${e.message}\n` };
  }
  await new Promise<void>((done) => process.stdout.write(result.stdout, () => done()));
  if (result.stderr) await new Promise<void>((done) => process.stderr.write(result.stderr, () => done()));
  return result.exitCode;
}
