import { accountId, accountName, BASE_GROUPS, BASE_USERS } from '../accounts.js';
import { createHash } from 'node:crypto';
import type { EmuGuest } from './model.js';

/**
 * The few programs the emulated guest agent can run (argv, never a shell), over the VM's in-memory
 * filesystem, with GNU coreutils' output and exit codes: true, false, echo, cat, rm [-f] [--] FILES,
 * sha256sum [--] FILE, dd if= of= [oflag=append] [conv=notrunc] [bs=] [status=none], mkdir [-p] DIR
 * (directories are implicit in the flat filesystem), mv [--] FROM TO, chown UID[:GID] FILE (numbers, or
 * "root"), chmod OCTAL FILE, stat -c FORMAT FILE (%u %g %a %s %n). Anything else is
 * "not found", which the real agent reports as an error of the exec call itself (spawn failure).
 */

export interface CommandResult {
  readonly exitcode?: number;
  readonly signal?: number;
  readonly out?: string;
  readonly err?: string;
}

export type ExecHook = (
  guest: EmuGuest,
  argv: readonly string[],
  input: string | undefined,
) => CommandResult | undefined;

const operands = (args: readonly string[]) => {
  const i = args.indexOf('--');
  return i >= 0
    ? { flags: args.slice(0, i), files: args.slice(i + 1) }
    : { flags: args.filter((a) => a.startsWith('-')), files: args.filter((a) => !a.startsWith('-')) };
};

/** undefined: no such program. */
export function runAgentCommand(
  guest: EmuGuest,
  argv: readonly string[],
  input: string | undefined,
): CommandResult | undefined {
  const [prog, ...args] = argv;
  const fs = guest.files;
  switch (prog) {
    case 'true':
      return { exitcode: 0 };
    case 'false':
      return { exitcode: 1 };
    case 'echo':
      return { exitcode: 0, out: `${args.join(' ')}\n` };
    case 'cat': {
      if (args.length === 0) return { exitcode: 0, out: input ?? '' };
      let out = '';
      for (const f of operands(args).files) {
        const data = fs.get(f);
        if (!data) return { exitcode: 1, out, err: `cat: ${f}: No such file or directory\n` };
        out += data.toString('utf8');
      }
      return { exitcode: 0, out };
    }
    case 'rm': {
      const { flags, files } = operands(args);
      const force = flags.some((f) => f.startsWith('-') && f.includes('f'));
      for (const f of files) {
        guest.meta.delete(f);
        if (!fs.delete(f) && !force)
          return { exitcode: 1, err: `rm: cannot remove '${f}': No such file or directory\n` };
      }
      return { exitcode: 0 };
    }
    case 'sha256sum': {
      const file = operands(args).files[0];
      const data = file === undefined ? undefined : fs.get(file);
      if (file === undefined || !data)
        return { exitcode: 1, err: `sha256sum: ${file ?? '-'}: No such file or directory\n` };
      return { exitcode: 0, out: `${createHash('sha256').update(data).digest('hex')}  ${file}\n` };
    }
    case 'dd': {
      const opts = new Map<string, string>();
      for (const a of args) {
        const eq = a.indexOf('=');
        if (eq <= 0) return { exitcode: 1, err: `dd: unrecognized operand '${a}'\n` };
        opts.set(a.slice(0, eq), a.slice(eq + 1));
      }
      const src = opts.get('if');
      const dst = opts.get('of');
      const data = src === undefined ? Buffer.from(input ?? '') : fs.get(src);
      if (!data) return { exitcode: 1, err: `dd: failed to open '${src}': No such file or directory\n` };
      if (dst === undefined) return { exitcode: 0, out: data.toString('utf8') };
      const append = (opts.get('oflag') ?? '').split(',').includes('append');
      const notrunc = (opts.get('conv') ?? '').split(',').includes('notrunc');
      const before = fs.get(dst) ?? Buffer.alloc(0);
      fs.set(dst, append && notrunc ? Buffer.concat([before, data]) : Buffer.from(data));
      return { exitcode: 0, err: opts.get('status') === 'none' ? '' : `${data.length} bytes copied\n` };
    }
    case 'mount':
      // `mount -a`: every fstab entry is taken as mounted (there is no NFS server to reach here).
      return args.join(' ') === '-a'
        ? { exitcode: 0 }
        : { exitcode: 32, err: 'mount: only -a is emulated\n' };
    case 'mkdir':
      return { exitcode: 0 };
    case 'mv': {
      const [from, to] = operands(args).files;
      if (from === undefined || to === undefined) return { exitcode: 1, err: 'mv: missing file operand\n' };
      const data = fs.get(from);
      if (!data) return { exitcode: 1, err: `mv: cannot stat '${from}': No such file or directory\n` };
      fs.set(to, data);
      fs.delete(from);
      const meta = guest.meta.get(from);
      guest.meta.delete(from);
      if (meta) guest.meta.set(to, meta);
      else guest.meta.delete(to);
      return { exitcode: 0 };
    }
    case 'chown':
    case 'chmod': {
      const [spec, file] = args;
      if (spec === undefined || file === undefined) return { exitcode: 1, err: `${prog}: missing operand\n` };
      if (!fs.has(file))
        return { exitcode: 1, err: `${prog}: cannot access '${file}': No such file or directory\n` };
      const meta = { ...(guest.meta.get(file) ?? { uid: 0, gid: 0, mode: 0o644 }) };
      if (prog === 'chmod') {
        if (!/^[0-7]{1,4}$/.test(spec)) return { exitcode: 1, err: `chmod: invalid mode: '${spec}'\n` };
        meta.mode = parseInt(spec, 8);
      } else {
        const [u, g] = spec.split(':');
        const uid = u ? accountId(BASE_USERS, u) : meta.uid;
        const gid = g ? accountId(BASE_GROUPS, g) : meta.gid;
        if (uid === undefined || gid === undefined)
          return { exitcode: 1, err: `chown: invalid user: '${spec}'\n` };
        Object.assign(meta, { uid, gid });
      }
      guest.meta.set(file, meta);
      return { exitcode: 0 };
    }
    case 'stat': {
      const [flag, format, file] = args;
      if (flag !== '-c' || format === undefined || file === undefined)
        return { exitcode: 1, err: 'stat: only -c FORMAT FILE is emulated\n' };
      const data = fs.get(file);
      if (!data) return { exitcode: 1, err: `stat: cannot statx '${file}': No such file or directory\n` };
      const m = guest.meta.get(file) ?? { uid: 0, gid: 0, mode: 0o644 };
      const text = format.replace(/%([ugasnUG])/g, (_, c: string) =>
        c === 'U'
          ? accountName(BASE_USERS, m.uid)
          : c === 'G'
            ? accountName(BASE_GROUPS, m.gid)
            : c === 'u'
              ? String(m.uid)
              : c === 'g'
                ? String(m.gid)
                : c === 'a'
                  ? m.mode.toString(8)
                  : c === 's'
                    ? String(data.length)
                    : file,
      );
      return { exitcode: 0, out: `${text}\n` };
    }
    default:
      return undefined;
  }
}
