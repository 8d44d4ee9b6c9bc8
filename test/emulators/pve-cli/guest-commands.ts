import { accountName, BASE_GROUPS, BASE_USERS } from '../accounts.js';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { EmuGuest, EmuState, FileMeta } from './state.js';
import { hostPath, metaKey } from './state.js';

/**
 * The few commands `pct exec` and `qm guest exec` can run inside an emulated guest, against the guest's root
 * directory (nothing runs for real, nothing touches the host outside that directory). Ownership and modes
 * are records in the state (as seen inside the guest), not real file attributes.
 *
 *   true, false, echo ARGS, cat [FILE...] (no FILE: stdin), test -e|-f|-d|-s|-r FILE,
 *   mkdir [-p] DIR, rm [-f] [--] FILE..., mv [--] FROM TO, chmod OCTAL FILE, chown UID[:GID] FILE,
 *   stat -c FORMAT FILE (%u %g %a %s %n), dd if= of= oflag=append conv=notrunc bs= status=none,
 *   systemctl is-active|start|stop|restart|reload UNIT (units listed in the guest's `services`).
 *
 * Anything else is "not found": `undefined` is returned and the caller reports it the way its tool does.
 */

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

const ok = (stdout: Buffer | string = ''): CommandResult => ({
  exitCode: 0,
  stdout: Buffer.from(stdout),
  stderr: '',
});
const fail = (exitCode: number, stderr: string): CommandResult => ({
  exitCode,
  stdout: Buffer.alloc(0),
  stderr,
});

export interface GuestContext {
  readonly statePath: string;
  readonly state: EmuState;
  readonly vmid: string;
  readonly guest: EmuGuest;
  readonly stdin: () => Buffer;
}

const DEFAULT_META: FileMeta = { uid: 0, gid: 0, mode: 0o644 };

export function runGuestCommand(ctx: GuestContext, argv: readonly string[]): CommandResult | undefined {
  const host = (p: string) => hostPath(ctx.statePath, ctx.vmid, p);
  const key = (p: string) => metaKey(ctx.vmid, p);
  const meta = (p: string) => ctx.state.files[key(p)] ?? DEFAULT_META;
  const ensureMeta = (p: string) => (ctx.state.files[key(p)] ??= { ...DEFAULT_META });
  const noFile = (cmd: string, p: string) => fail(1, `${cmd}: ${p}: No such file or directory\n`);
  const [cmd, ...args] = argv;
  const operands = args.filter((a) => a !== '--');
  switch (cmd) {
    case 'true':
      return ok();
    case 'false':
      return fail(1, '');
    case 'echo':
      return ok(`${args.join(' ')}\n`);
    case 'cat': {
      if (operands.length === 0) return ok(ctx.stdin());
      const parts: Buffer[] = [];
      for (const p of operands) {
        if (!existsSync(host(p)) || statSync(host(p)).isDirectory()) return noFile('cat', p);
        parts.push(readFileSync(host(p)));
      }
      return ok(Buffer.concat(parts));
    }
    case 'test': {
      const [flag, p] = args;
      if (!flag || p === undefined) return fail(2, 'test: missing argument\n');
      const st = existsSync(host(p)) ? statSync(host(p)) : undefined;
      const truth =
        flag === '-e' || flag === '-r'
          ? st !== undefined
          : flag === '-f'
            ? st?.isFile() === true
            : flag === '-d'
              ? st?.isDirectory() === true
              : flag === '-s'
                ? (st?.size ?? 0) > 0
                : undefined;
      if (truth === undefined) return fail(2, `test: ${flag}: unary operator expected\n`);
      return truth ? ok() : fail(1, '');
    }
    case 'mkdir': {
      const recursive = args.includes('-p');
      for (const p of operands.filter((a) => a !== '-p')) {
        try {
          mkdirSync(host(p), { recursive });
        } catch (e) {
          return fail(1, `mkdir: cannot create directory '${p}': ${(e as NodeJS.ErrnoException).code}\n`);
        }
      }
      return ok();
    }
    case 'rm': {
      const force = args.includes('-f');
      for (const p of operands.filter((a) => a !== '-f')) {
        if (!existsSync(host(p))) {
          if (force) continue;
          return fail(1, `rm: cannot remove '${p}': No such file or directory\n`);
        }
        rmSync(host(p));
        delete ctx.state.files[key(p)];
      }
      return ok();
    }
    case 'mv': {
      const [from, to] = operands;
      if (from === undefined || to === undefined) return fail(1, 'mv: missing file operand\n');
      if (!existsSync(host(from))) return fail(1, `mv: cannot stat '${from}': No such file or directory\n`);
      renameSync(host(from), host(to));
      ctx.state.files[key(to)] = meta(from);
      delete ctx.state.files[key(from)];
      return ok();
    }
    case 'chmod': {
      const [mode, p] = operands;
      if (!mode || !/^[0-7]{1,4}$/.test(mode) || p === undefined) return fail(1, 'chmod: invalid mode\n');
      if (!existsSync(host(p))) return fail(1, `chmod: cannot access '${p}': No such file or directory\n`);
      ensureMeta(p).mode = parseInt(mode, 8);
      return ok();
    }
    case 'chown': {
      const [owner, p] = operands;
      const m = owner ? /^(\d+)(?::(\d+))?$/.exec(owner) : null;
      if (!m || p === undefined) return fail(1, 'chown: only numeric UID[:GID] is emulated\n');
      if (!existsSync(host(p))) return fail(1, `chown: cannot access '${p}': No such file or directory\n`);
      const rec = ensureMeta(p);
      rec.uid = Number(m[1]);
      if (m[2] !== undefined) rec.gid = Number(m[2]);
      return ok();
    }
    case 'stat': {
      const [flag, format, p] = args;
      if (flag !== '-c' || format === undefined || p === undefined)
        return fail(1, 'stat: only -c FORMAT FILE is emulated\n');
      if (!existsSync(host(p))) return fail(1, `stat: cannot statx '${p}': No such file or directory\n`);
      const rec = meta(p);
      const size = statSync(host(p)).size;
      const text = format.replace(/%([ugasnUG])/g, (_, c: string) =>
        c === 'U'
          ? accountName(BASE_USERS, rec.uid)
          : c === 'G'
            ? accountName(BASE_GROUPS, rec.gid)
            : c === 'u'
              ? String(rec.uid)
              : c === 'g'
                ? String(rec.gid)
                : c === 'a'
                  ? rec.mode.toString(8)
                  : c === 's'
                    ? String(size)
                    : p,
      );
      return ok(`${text}\n`);
    }
    case 'dd': {
      const opt = (name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
      const known = new Set(['if', 'of', 'oflag', 'conv', 'bs', 'status']);
      const bad = args.find((a) => !known.has(a.split('=')[0]!));
      if (bad) return fail(1, `dd: unrecognized operand '${bad}'\n`);
      const src = opt('if');
      const dst = opt('of');
      if (src !== undefined && !existsSync(host(src)))
        return fail(1, `dd: failed to open '${src}': No such file or directory\n`);
      const data = src === undefined ? ctx.stdin() : readFileSync(host(src));
      if (dst === undefined) return ok(data);
      if (!existsSync(dirname(host(dst))))
        return fail(1, `dd: failed to open '${dst}': No such file or directory\n`);
      if (opt('oflag') === 'append') appendFileSync(host(dst), data);
      else writeFileSync(host(dst), data);
      ensureMeta(dst);
      return ok();
    }
    case 'systemctl': {
      const [verb, unit] = args;
      const services = (ctx.guest.services ??= {});
      const name = unit?.endsWith('.service') ? unit.slice(0, -'.service'.length) : unit;
      if (!verb || !name) return fail(1, 'systemctl: too few arguments\n');
      const state = services[name];
      if (verb === 'is-active')
        return state === 'active' ? ok('active\n') : { ...fail(3, ''), stdout: Buffer.from('inactive\n') };
      if (!['start', 'stop', 'restart', 'reload'].includes(verb))
        return fail(1, `Unknown command verb ${verb}.\n`);
      if (state === undefined)
        return fail(5, `Failed to ${verb} ${name}.service: Unit ${name}.service not found.\n`);
      if (verb === 'reload' && state !== 'active') return fail(1, `Job for ${name}.service failed.\n`);
      services[name] = verb === 'stop' ? 'inactive' : 'active';
      return ok();
    }
    default:
      return undefined;
  }
}
