import { composeCommand } from './compose.js';
import { all, last, parseFlags } from './flags.js';
import {
  emptyHost,
  fail,
  inspectContainer,
  ok,
  type CliResult,
  type DockerHost,
  type GuestFiles,
} from './state.js';

/**
 * THE DOCKER CLI, EMULATED (test tree only; Docker cannot run here). Given an argv, it answers as docker
 * 24–27 with the compose v2 plugin do, for exactly what Phoenix runs, over in-memory daemons (one per
 * guest):
 *   docker volume ls --format '{{json .}}'   one JSON object per line, Labels as "k=v,k=v"
 *   docker volume inspect NAME...            indented JSON array with Options; "no such volume" per miss
 *   docker volume create [-d D] [-o K=V]... [--label K=V]... NAME   get-or-create, as the local driver does
 *   docker inspect [--type container] NAME...  JSON array with State; "No such container" / "No such object"
 *   docker restart NAME...
 *   docker compose [-p] [--project-directory] [-f]... [--env-file]... [--ansi] up -d [--remove-orphans]
 *   docker compose -p NAME ps [--all] --format json   NDJSON (v2.21+) or one array (`psFormat: 'array'`)
 * Errors carry Docker's texts ("Error response from daemon: ...", compose's `external volume "X" not
 * found`) and exit codes (1; 125 for a usage error). No image is ever pulled: containers "run" at once.
 */

export interface DockerCliEmulatorOptions {
  /** Clock of container start times; tests pin or step it. */
  readonly now?: () => Date;
  /** compose `ps --format json` output: one object per line (compose 2.21 and later) or one array. */
  readonly psFormat?: 'lines' | 'array';
}

export interface DockerCall {
  readonly host: string;
  readonly argv: readonly string[];
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const LOCAL_OPTS = new Set(['type', 'o', 'device', 'size']);

export class DockerCliEmulator {
  readonly hosts = new Map<string, DockerHost>();
  /** Hosts without Docker installed: `docker` cannot be found there. */
  readonly uninstalled = new Set<string>();
  /** Every argv run, in order. */
  readonly calls: DockerCall[] = [];
  readonly now: () => Date;
  psFormat: 'lines' | 'array';

  constructor(options: DockerCliEmulatorOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.psFormat = options.psFormat ?? 'lines';
  }

  host(key: string | number): DockerHost {
    let h = this.hosts.get(String(key));
    if (!h) this.hosts.set(String(key), (h = emptyHost()));
    return h;
  }

  /** undefined: not a docker command, or no docker on that host (the caller reports "not found"). */
  run(key: string | number, argv: readonly string[], files: GuestFiles): CliResult | undefined {
    if (argv[0] !== 'docker' || this.uninstalled.has(String(key))) return undefined;
    this.calls.push({ host: String(key), argv: [...argv] });
    const host = this.host(key);
    const [cmd, ...rest] = argv.slice(1);
    switch (cmd) {
      case 'volume':
        return this.volume(host, rest);
      case 'inspect':
        return this.inspect(host, rest);
      case 'restart':
        return this.restart(host, rest);
      case 'compose':
        return composeCommand(host, rest, files, this);
      default:
        return fail(`docker: '${cmd ?? ''}' is not a docker command.\nSee 'docker --help'`);
    }
  }

  stamp(): string {
    return this.now().toISOString();
  }

  private volume(host: DockerHost, argv: readonly string[]): CliResult {
    const [sub, ...rest] = argv;
    if (sub === 'ls') {
      const p = parseFlags(rest, {
        valued: { '--format': 'format' },
        bools: { '-q': 'quiet', '--quiet': 'quiet' },
      });
      if ('error' in p) return usage(p.error, 'volume ls');
      const volumes = [...host.volumes.values()].sort((a, b) =>
        a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0,
      );
      if (last(p, 'quiet')) return ok(volumes.map((v) => `${v.Name}\n`).join(''));
      if (last(p, 'format') !== '{{json .}}') return fail('emulator: only --format {{json .}} or -q');
      return ok(volumes.map((v) => `${JSON.stringify(lsRow(v))}\n`).join(''));
    }
    if (sub === 'inspect') {
      const p = parseFlags(rest, {});
      if ('error' in p) return usage(p.error, 'volume inspect');
      const found = p.args.map((n) => host.volumes.get(n)).filter((v) => v !== undefined);
      const missing = p.args.filter((n) => !host.volumes.has(n));
      const out = `${JSON.stringify(found, null, 4)}\n`;
      if (missing.length === 0) return ok(out);
      return fail(
        missing.map((n) => `Error response from daemon: get ${n}: no such volume`).join('\n'),
        1,
        out,
      );
    }
    if (sub === 'create') return this.createVolume(host, rest);
    return fail(`docker: 'volume ${sub ?? ''}' is not a docker command.`);
  }

  private createVolume(host: DockerHost, argv: readonly string[]): CliResult {
    const p = parseFlags(argv, {
      valued: { '--driver': 'driver', '-d': 'driver', '--opt': 'opt', '-o': 'opt', '--label': 'label' },
    });
    if ('error' in p) return usage(p.error, 'volume create');
    const name = p.args[0];
    if (name === undefined || p.args.length > 1) return usage('requires at most 1 argument', 'volume create');
    const driver = last(p, 'driver') ?? 'local';
    if (driver !== 'local')
      return fail(`Error response from daemon: create ${name}: plugin "${driver}" not found`);
    if (!VOLUME_NAME.test(name))
      return fail(
        `Error response from daemon: create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    const opts = pairs(all(p, 'opt'));
    const labels = pairs(all(p, 'label'));
    const bad = Object.keys(opts).find((k) => !LOCAL_OPTS.has(k));
    if (bad !== undefined)
      return fail(`Error response from daemon: create ${name}: invalid option: "${bad}"`);
    const existing = host.volumes.get(name);
    if (existing && existing.Driver !== driver)
      return fail(
        `Error response from daemon: create ${name}: driver '${existing.Driver}' already has volume '${name}': volume name must be unique`,
      );
    // Get or create: an existing volume keeps its own options and labels.
    if (!existing)
      host.volumes.set(name, {
        Name: name,
        Driver: driver,
        Options: Object.keys(opts).length ? opts : null,
        Labels: Object.keys(labels).length ? labels : null,
        CreatedAt: this.stamp(),
        Mountpoint: `/var/lib/docker/volumes/${name}/_data`,
        Scope: 'local',
      });
    return ok(`${name}\n`);
  }

  private inspect(host: DockerHost, argv: readonly string[]): CliResult {
    const p = parseFlags(argv, { valued: { '--type': 'type', '--format': 'format', '-f': 'format' } });
    if ('error' in p) return usage(p.error, 'inspect');
    const type = last(p, 'type');
    if (type !== undefined && type !== 'container') return fail('emulator: only --type container');
    if (p.args.length === 0) return usage('requires at least 1 argument', 'inspect');
    const found = p.args.map((n) => host.containers.get(n.replace(/^\//, ''))).filter((c) => c !== undefined);
    const out = `${JSON.stringify(found.map(inspectContainer), null, 4)}\n`;
    const missing = p.args.filter((n) => !host.containers.has(n.replace(/^\//, '')));
    if (missing.length === 0) return ok(out);
    const says = (n: string) =>
      type === 'container'
        ? `Error response from daemon: No such container: ${n}`
        : `Error: No such object: ${n}`;
    return fail(missing.map(says).join('\n'), 1, out);
  }

  private restart(host: DockerHost, argv: readonly string[]): CliResult {
    const p = parseFlags(argv, {
      valued: { '--time': 'time', '-t': 'time', '--signal': 'signal', '-s': 'signal' },
    });
    if ('error' in p) return usage(p.error, 'restart');
    if (p.args.length === 0) return usage('requires at least 1 argument', 'restart');
    let out = '';
    const errors: string[] = [];
    for (const n of p.args) {
      const c = host.containers.get(n);
      if (!c) {
        errors.push(`Error response from daemon: No such container: ${n}`);
        continue;
      }
      if (c.running) c.finishedAt = this.stamp();
      c.running = true;
      c.startedAt = this.stamp();
      out += `${n}\n`;
    }
    return errors.length ? fail(errors.join('\n'), 1, out) : ok(out);
  }
}

function usage(error: string, cmd: string): CliResult {
  return fail(`${error}\nSee 'docker ${cmd} --help'.`, 125);
}

function pairs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    out[eq < 0 ? item : item.slice(0, eq)] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

function lsRow(v: {
  Name: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
}) {
  return {
    Availability: 'N/A',
    Driver: v.Driver,
    Group: 'N/A',
    Labels: Object.entries(v.Labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(','),
    Links: 'N/A',
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: 'local',
    Size: 'N/A',
    Status: 'N/A',
  };
}
