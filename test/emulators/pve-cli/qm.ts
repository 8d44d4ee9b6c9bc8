import { runGuestCommand } from './guest-commands.js';
import { boolOption, parseArgs } from './options.js';
import type { EmuGuest, EmuState } from './state.js';
import { Die, loadGuest, lockConfig } from './state.js';
import type { ToolOutput } from './tool.js';
import { perlPrettyJson } from './tool.js';

/**
 * `qm` after qemu-server's src/PVE/CLI/qm.pm: guest exec, guest exec-status, status, config, start, stop,
 * shutdown, destroy. `qm guest exec` prints the agent's exec-status object (keys exitcode, exited, out-data,
 * err-data; the data fields only when not empty) and exits 0 whatever the command's exit code was. A command
 * the guest cannot start is an agent error (exit 255), as with the real agent.
 */

/** PVE::QemuServer::Agent::assert_agent_available. */
export function assertAgent(vmid: string, guest: EmuGuest): void {
  const agent = String(guest.config.agent ?? '');
  if (!/^(1|enabled=1)/.test(agent)) throw new Die('No QEMU guest agent configured');
  if (guest.status !== 'running') throw new Die(`VM ${vmid} is not running`);
}

export async function qm(
  statePath: string,
  state: EmuState,
  args: string[],
  stdin: () => Buffer,
): Promise<ToolOutput> {
  const out = (stdout: string | Buffer = '', stderr = ''): ToolOutput => ({
    exitCode: 0,
    stdout: Buffer.from(stdout),
    stderr,
  });
  const [sub, ...rest] = args;
  if (sub === 'guest') {
    const [verb, ...more] = rest;
    if (verb === 'exec') {
      const p = parseArgs(more, ['timeout', 'pass-stdin', 'synchronous']);
      const vmid = p.positional[0] ?? '';
      const input = boolOption(p.options['pass-stdin'], false) ? stdin() : undefined;
      if (input && input.length > 1024 * 1024)
        throw new Die("'input-data' (STDIN) is limited to 1 MiB, aborting");
      const guest = loadGuest(state, 'qemu', vmid);
      assertAgent(vmid, guest);
      if (p.extra.length === 0 && input === undefined)
        throw new Die('command or input-data (or both) required');
      const pid = (state.nextPid = (state.nextPid ?? 1000) + 1);
      const fault = state.faults?.execOutput?.[vmid];
      if (fault === 'garbage') return out('Use of uninitialized value in concatenation (.) at - line 1.\n');
      if (fault === 'timeout') return out(perlPrettyJson({ pid }), 'timeout reached, returning pid\n');
      const r = runGuestCommand(
        { statePath, state, vmid, guest, stdin: () => input ?? Buffer.alloc(0) },
        p.extra,
      );
      if (!r)
        throw new Die(
          `Agent error: Failed to execute child process “${p.extra[0]}” (No such file or directory)`,
        );
      const status: Record<string, unknown> = { exitcode: r.exitCode, exited: 1 };
      if (r.stdout.length > 0) status['out-data'] = r.stdout.toString('utf8');
      if (r.stderr.length > 0) status['err-data'] = r.stderr;
      ((state.execs ??= {})[vmid] ??= {})[String(pid)] = status;
      return out(perlPrettyJson(status));
    }
    if (verb === 'exec-status') {
      const [vmid = '', pid = ''] = parseArgs(more, []).positional;
      const guest = loadGuest(state, 'qemu', vmid);
      assertAgent(vmid, guest);
      const status = state.execs?.[vmid]?.[pid];
      if (!status) throw new Die(`Agent error: Invalid parameter 'pid'`);
      return out(perlPrettyJson(status));
    }
    throw new Die(`ERROR: unknown command 'qm guest ${verb ?? ''}'`);
  }
  const p = parseArgs(rest, ['timeout', 'forceStop', 'purge', 'current', 'skiplock']);
  const vmid = p.positional[0] ?? '';
  switch (sub) {
    case 'status':
      return out(`status: ${loadGuest(state, 'qemu', vmid).status}\n`);
    case 'config': {
      const guest = loadGuest(state, 'qemu', vmid);
      const keys = Object.keys(guest.config)
        .filter((k) => k !== 'digest')
        .sort();
      return out(keys.map((k) => `${k}: ${guest.config[k]}\n`).join(''));
    }
    case 'start':
    case 'stop':
    case 'shutdown':
    case 'destroy': {
      const guest = loadGuest(state, 'qemu', vmid);
      lockConfig(state, 'qemu', vmid);
      if (sub === 'start') {
        if (guest.status === 'running') throw new Die(`VM ${vmid} already running`);
        guest.status = 'running';
      } else if (sub === 'destroy') {
        if (guest.status === 'running') throw new Die(`VM ${vmid} is running - destroy failed`);
        delete state.guests[vmid];
      } else if (sub === 'shutdown' && guest.status !== 'running') {
        throw new Die(`VM ${vmid} not running`);
      } else {
        guest.status = 'stopped'; // qm stop of a stopped VM succeeds quietly
      }
      return out();
    }
    default:
      throw new Die(`ERROR: unknown command 'qm ${sub ?? ''}'`);
  }
}
