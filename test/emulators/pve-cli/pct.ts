import { BASE_GROUPS, BASE_USERS } from '../accounts.js';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runGuestCommand } from './guest-commands.js';
import { parseArgs } from './options.js';
import type { EmuState } from './state.js';
import { Die, guestRoot, hostPath, loadGuest, lockConfig, metaKey } from './state.js';
import type { ToolOutput } from './tool.js';

/**
 * `pct` after pve-container's src/PVE/CLI/pct.pm: exec, push, pull, status, config, start, stop, shutdown,
 * destroy. Messages are the ones pct.pm and PVE::API2::LXC::Status die with; a die exits 255.
 */
export async function pct(
  statePath: string,
  state: EmuState,
  args: string[],
  stdin: () => Buffer,
): Promise<ToolOutput> {
  const [sub, ...rest] = args;
  const out = (stdout: string | Buffer = ''): ToolOutput => ({
    exitCode: 0,
    stdout: Buffer.from(stdout),
    stderr: '',
  });
  switch (sub) {
    case 'exec': {
      const p = parseArgs(rest, ['keep-env']);
      const vmid = p.positional[0] ?? '';
      const guest = loadGuest(state, 'lxc', vmid);
      if (guest.status !== 'running') throw new Die(`container '${vmid}' not running!`);
      if (p.extra.length === 0) throw new Die('missing command');
      const r = runGuestCommand({ statePath, state, vmid, guest, stdin }, p.extra);
      if (!r) {
        // lxc-attach's report when execvp fails inside the container.
        return {
          exitCode: 127,
          stdout: Buffer.alloc(0),
          stderr: `lxc-attach: ${vmid}: ../src/lxc/attach.c: lxc_attach_run_command: 1841 No such file or directory - Failed to exec "${p.extra[0]}"\n`,
        };
      }
      return r;
    }
    case 'push': {
      const p = parseArgs(rest, ['user', 'group', 'perms']);
      const [vmid = '', file, dest] = p.positional;
      if (file === undefined || dest === undefined) throw new Die('400 not enough arguments');
      const guest = loadGuest(state, 'lxc', vmid);
      lockConfig(state, 'lxc', vmid);
      if (guest.status !== 'running') throw new Die('can only push files to a running CT');
      let perms = p.options.perms;
      if (perms !== undefined && !perms.startsWith('0')) perms = `0${perms}`;
      const uid = resolveId(p.options.user, { ...BASE_USERS, ...guest.users }, 'uid');
      const gid = resolveId(p.options.group, { ...BASE_GROUPS, ...guest.groups }, 'gid');
      let content: Buffer;
      try {
        content = readFileSync(file);
      } catch {
        throw new Die(`failed to open ${file} for reading`);
      }
      const target = hostPath(statePath, vmid, dest);
      if (!existsSync(dirname(target)))
        throw new Die(`failed to create file: ${dest}: No such file or directory`);
      const key = metaKey(vmid, dest);
      const existing = state.files[key];
      writeFileSync(target, content);
      const rec = existing ?? { uid: 0, gid: 0, mode: 0o644 }; // new file: 0666 & ~umask(022)
      if (perms !== undefined) {
        const mode = parsePerms(perms);
        rec.mode = mode;
      }
      if (uid !== undefined) rec.uid = uid;
      if (gid !== undefined) rec.gid = gid;
      state.files[key] = rec;
      return out();
    }
    case 'pull': {
      const p = parseArgs(rest, ['user', 'group', 'perms']);
      const [vmid = '', path, dest] = p.positional;
      if (path === undefined || dest === undefined) throw new Die('400 not enough arguments');
      const guest = loadGuest(state, 'lxc', vmid);
      lockConfig(state, 'lxc', vmid);
      if (guest.status !== 'running') throw new Die('can only pull files from a running VM');
      const src = hostPath(statePath, vmid, path);
      if (!existsSync(src) || statSync(src).isDirectory())
        throw new Die(`failed to open ${path}: No such file or directory`);
      writeFileSync(dest, readFileSync(src));
      return out();
    }
    case 'status': {
      const vmid = parseArgs(rest, ['verbose']).positional[0] ?? '';
      return out(`status: ${loadGuest(state, 'lxc', vmid).status}\n`);
    }
    case 'config': {
      const p = parseArgs(rest, ['current', 'snapshot']);
      const guest = loadGuest(state, 'lxc', p.positional[0] ?? '');
      const lines = Object.keys(guest.config)
        .filter((k) => k !== 'digest')
        .sort()
        .map((k) => `${k}: ${guest.config[k]}\n`);
      return out(lines.join(''));
    }
    case 'start':
    case 'stop':
    case 'shutdown':
    case 'destroy': {
      const p = parseArgs(rest, ['timeout', 'forceStop', 'purge', 'force', 'skiplock']);
      const vmid = p.positional[0] ?? '';
      const guest = loadGuest(state, 'lxc', vmid);
      lockConfig(state, 'lxc', vmid);
      if (sub === 'start') {
        if (guest.status === 'running') throw new Die(`CT ${vmid} already running`);
        guest.status = 'running';
      } else if (sub === 'destroy') {
        if (guest.status === 'running') throw new Die(`unable to destroy CT ${vmid} - container is running`);
        delete state.guests[vmid];
        for (const k of Object.keys(state.files)) if (k.startsWith(`${vmid}:`)) delete state.files[k];
        rmSync(guestRoot(statePath, vmid), { recursive: true, force: true });
      } else {
        if (guest.status !== 'running') throw new Die(`CT ${vmid} not running`);
        guest.status = 'stopped';
      }
      return out();
    }
    default:
      throw new Die(`ERROR: unknown command 'pct ${sub ?? ''}'`);
  }
}

function resolveId(
  v: string | undefined,
  names: Record<string, number>,
  what: 'uid' | 'gid',
): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const id = names[v];
  if (id === undefined) throw new Die(`failed to get ${what} for: ${v}`);
  return id;
}

/** POSIX::strtoul($perms, 0): 0x.. hex, 0.. octal. */
function parsePerms(perms: string): number {
  const m = /^0x([0-9a-f]+)$/i.exec(perms);
  const n = m ? parseInt(m[1]!, 16) : /^0[0-7]*$/.test(perms) ? parseInt(perms, 8) : NaN;
  if (Number.isNaN(n)) throw new Die(`invalid mode: '${perms}'`);
  return n;
}
