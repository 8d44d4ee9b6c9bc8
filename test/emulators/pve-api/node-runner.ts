import { accountName, BASE_GROUPS, BASE_USERS } from '../accounts.js';
import type { CommandRunner, RunOptions, RunResult } from '../../../src/drivers/proxmox/cli/runner.js';
import { configText } from './model.js';
import type { ClusterModel } from './model.js';

/**
 * A Proxmox node's shell for tests — NOT a node: a CommandRunner answering the few argvs the hypervisor
 * driver runs on a node, over the same cluster model the REST emulator serves, so what the node writes is
 * what the API then reads. `/etc/pve/nodes/<node>/lxc/<vmid>.conf` is the guest's config file (options
 * sorted, then its raw lxc.* lines: see configText); writing it (dd to a sibling, then mv over it, as the
 * driver does) replaces the guest's raw lxc lines — option lines must be unchanged, since the driver only
 * merges lxc.* lines. Any other path is a file in an in-memory host filesystem with numeric owner and mode.
 *
 *   cat [--] FILE · dd of=FILE [bs=] [status=none] (stdin) · mv [--] FROM TO · mkdir -p [--] DIR ·
 *   chown UID[:GID] [--] PATH · chmod OCTAL PATH · stat -c FORMAT PATH · rm -f [--] PATH
 *
 * Every argv is logged (`log`) so tests can assert what ran, and that nothing ran during a plan.
 */

interface HostFile {
  data: Buffer;
  uid: number;
  gid: number;
  mode: number;
}

export interface NodeStandIn extends CommandRunner {
  readonly log: string[][];
  readonly files: Map<string, HostFile>;
  readonly dirs: Map<string, { uid: number; gid: number }>;
}

const CONF = /^\/etc\/pve\/nodes\/([^/]+)\/lxc\/(\d+)\.conf$/;
const ok = (out: string | Buffer = ''): RunResult => {
  const b = Buffer.from(out);
  return { exitCode: 0, stdout: b.toString('utf8'), stderr: '', stdoutBytes: new Uint8Array(b) };
};
const fail = (exitCode: number, stderr: string): RunResult => ({
  exitCode,
  stdout: '',
  stderr,
  stdoutBytes: new Uint8Array(0),
});

export function nodeStandIn(model: ClusterModel): NodeStandIn {
  const log: string[][] = [];
  const files = new Map<string, HostFile>();
  const dirs = new Map<string, { uid: number; gid: number }>();

  const confGuest = (path: string) => {
    const m = CONF.exec(path);
    if (!m) return undefined;
    const g = model.guests.get(Number(m[2]));
    return g && g.node === m[1] && g.type === 'lxc' ? g : null;
  };
  const read = (path: string): Buffer | undefined => {
    const g = confGuest(path);
    if (g === null) return undefined;
    if (g) return Buffer.from(configText(g.config, g.rawLxc));
    return files.get(path)?.data;
  };
  const write = (path: string, data: Buffer): RunResult => {
    const g = confGuest(path);
    if (g === null) return fail(1, `cannot write '${path}': No such file or directory\n`);
    if (!g) {
      const prior = files.get(path);
      files.set(path, { data, uid: prior?.uid ?? 0, gid: prior?.gid ?? 0, mode: prior?.mode ?? 0o644 });
      return ok();
    }
    const lines = data.toString('utf8').split('\n');
    const end = lines.findIndex((l) => /^\[/.test(l));
    const main = lines.slice(0, end < 0 ? lines.length : end).filter((l) => l.trim() !== '');
    const raw = main
      .map((l) => /^(lxc\.[a-z0-9_.-]+):\s*(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m): [string, string] => [m[1]!, m[2]!]);
    const options = main.filter((l) => !/^lxc\./.test(l)).join('\n');
    if (options !== configText(g.config).trimEnd())
      return fail(
        1,
        `emulated node: ${path} was written with changed option lines; only lxc.* lines may change\n`,
      );
    g.rawLxc = raw;
    return ok();
  };

  const run = async (argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
    log.push([...argv]);
    const [cmd, ...rest] = argv;
    const args = rest.filter((a) => a !== '--');
    switch (cmd) {
      case 'cat': {
        const data = read(args[0] ?? '');
        return data ? ok(data) : fail(1, `cat: ${args[0]}: No such file or directory\n`);
      }
      case 'dd': {
        const of = args.find((a) => a.startsWith('of='))?.slice(3);
        if (of === undefined) return fail(1, 'dd: only of= is emulated\n');
        return write(of, Buffer.from(opts.input ?? new Uint8Array(0)));
      }
      case 'mv': {
        const [from, to] = args;
        const data = from === undefined ? undefined : files.get(from);
        if (!data || to === undefined)
          return fail(1, `mv: cannot stat '${from}': No such file or directory\n`);
        const r = write(to, data.data);
        if (r.exitCode !== 0) return r;
        const target = files.get(to);
        if (target) Object.assign(target, { uid: data.uid, gid: data.gid, mode: data.mode });
        files.delete(from!);
        return ok();
      }
      case 'mkdir':
        for (const d of args.filter((a) => a !== '-p')) if (!dirs.has(d)) dirs.set(d, { uid: 0, gid: 0 });
        return ok();
      case 'chown':
      case 'chmod': {
        const [spec = '', path = ''] = args;
        const file = files.get(path);
        const dir = dirs.get(path);
        if (!file && !dir) return fail(1, `${cmd}: cannot access '${path}': No such file or directory\n`);
        if (cmd === 'chmod') {
          if (!file || !/^[0-7]{1,4}$/.test(spec)) return fail(1, `chmod: invalid mode: '${spec}'\n`);
          file.mode = parseInt(spec, 8);
          return ok();
        }
        const m = /^(\d*)(?::(\d*))?$/.exec(spec);
        if (!m) return fail(1, `chown: invalid user: '${spec}' (only numeric ids are emulated)\n`);
        for (const rec of [file, dir]) {
          if (!rec) continue;
          if (m[1]) rec.uid = Number(m[1]);
          if (m[2]) rec.gid = Number(m[2]);
        }
        return ok();
      }
      case 'stat': {
        const [flag, format = '', path = ''] = args;
        const file = files.get(path);
        if (flag !== '-c') return fail(1, 'stat: only -c FORMAT is emulated\n');
        if (!file) return fail(1, `stat: cannot statx '${path}': No such file or directory\n`);
        return ok(
          `${format.replace(/%([ugasnUG])/g, (_, c: string) =>
            c === 'U'
              ? accountName(BASE_USERS, file.uid)
              : c === 'G'
                ? accountName(BASE_GROUPS, file.gid)
                : c === 'u'
                  ? String(file.uid)
                  : c === 'g'
                    ? String(file.gid)
                    : c === 'a'
                      ? file.mode.toString(8)
                      : c === 's'
                        ? String(file.data.length)
                        : path,
          )}\n`,
        );
      }
      case 'rm':
        for (const p of args.filter((a) => a !== '-f')) files.delete(p);
        return ok();
      default:
        return fail(127, `${cmd}: command not found\n`);
    }
  };
  return { describe: 'emulated node', run, close: async () => undefined, log, files, dirs };
}
