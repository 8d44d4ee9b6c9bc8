import { posix } from 'node:path';
import YAML from 'yaml';
import { parseDotenv, interpolate } from './dotenv.js';
import { has, last, all, parseFlags } from './flags.js';
import { dockerId, fail, NEVER, ok, type CliResult, type DockerHost, type GuestFiles } from './state.js';

/**
 * `docker compose` (v2) for `up -d [--remove-orphans]` and `ps [--all] --format json`: reads the compose
 * file and env file from the guest, interpolates, checks the model (undefined volumes, services without
 * image), then as compose does: the default network, the project's volumes (an external one missing fails
 * with `external volume "X" not found` before any container changes), containers created, recreated when
 * their definition changed, left running otherwise; services behind a profile are not started.
 * Progress goes to stderr as " Container x  Started" lines (no ANSI).
 */

export interface ComposeEnv {
  stamp(): string;
  readonly psFormat: 'lines' | 'array';
}

const PROJECT = /^[a-z0-9][a-z0-9_-]*$/;

interface Service {
  readonly name: string;
  readonly container: string;
  readonly image: string;
  readonly hash: string;
}

interface Model {
  readonly services: Service[];
  readonly volumes: Array<{ name: string; external: boolean }>;
}

export function composeCommand(
  host: DockerHost,
  argv: readonly string[],
  files: GuestFiles,
  env: ComposeEnv,
): CliResult {
  const g = parseFlags(argv, {
    valued: {
      '-p': 'project',
      '--project-name': 'project',
      '--project-directory': 'dir',
      '-f': 'file',
      '--file': 'file',
      '--env-file': 'env',
      '--ansi': 'ansi',
      '--progress': 'progress',
    },
    interspersed: false,
  });
  if ('error' in g) return fail(g.error);
  const [sub, ...rest] = g.args;
  const composeFiles = all(g, 'file');
  const dir = last(g, 'dir') ?? (composeFiles[0] ? posix.dirname(composeFiles[0]) : undefined);
  const project = last(g, 'project') ?? (dir ? posix.basename(dir) : undefined);
  if (project === undefined) return fail('no configuration file provided: not found');
  if (!PROJECT.test(project))
    return fail(
      `invalid project name "${project}": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`,
    );
  if (sub === 'ps') return ps(host, project, rest, env);
  if (sub !== 'up') return fail(`unknown docker command: "compose ${sub ?? ''}"`);
  const p = parseFlags(rest, {
    bools: { '-d': 'detach', '--detach': 'detach', '--remove-orphans': 'orphans' },
  });
  if ('error' in p) return fail(p.error);
  if (!has(p, 'detach')) return fail('emulator: only `up -d` (nothing runs attached here)');
  let stderr = '';
  let model: Model;
  try {
    const vars = readEnv(all(g, 'env'), dir, files);
    if (composeFiles.length !== 1) throw new Error('emulator: exactly one -f FILE');
    const text = files.read(composeFiles[0]!);
    if (text === undefined) throw new Error(`open ${composeFiles[0]}: no such file or directory`);
    model = readModel(project, text, vars, (name) => {
      stderr += `WARN[0000] The "${name}" variable is not set. Defaulting to a blank string. \n`;
    });
  } catch (err) {
    return fail(stderr + (err as Error).message);
  }
  const network = `${project}_default`;
  if (!host.networks.has(network)) {
    host.networks.add(network);
    stderr += ` Network ${network}  Creating\n Network ${network}  Created\n`;
  }
  for (const v of model.volumes) {
    if (host.volumes.has(v.name)) continue;
    if (v.external) return fail(`${stderr}external volume "${v.name}" not found`);
    host.volumes.set(v.name, {
      Name: v.name,
      Driver: 'local',
      Options: null,
      Labels: { 'com.docker.compose.project': project, 'com.docker.compose.volume': v.name },
      CreatedAt: env.stamp(),
      Mountpoint: `/var/lib/docker/volumes/${v.name}/_data`,
      Scope: 'local',
    });
    stderr += ` Volume "${v.name}"  Creating\n Volume "${v.name}"  Created\n`;
  }
  for (const s of model.services) {
    const holder = host.containers.get(s.container);
    if (holder && holder.project !== project)
      return fail(
        `${stderr}Error response from daemon: Conflict. The container name "/${s.container}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
  }
  const wanted = new Set(model.services.map((s) => s.name));
  const orphans = [...host.containers.values()].filter(
    (c) => c.project === project && !wanted.has(c.service ?? ''),
  );
  if (orphans.length && has(p, 'orphans')) {
    for (const o of orphans) {
      host.containers.delete(o.name);
      stderr += ` Container ${o.name}  Stopping\n Container ${o.name}  Stopped\n Container ${o.name}  Removing\n Container ${o.name}  Removed\n`;
    }
  } else if (orphans.length) {
    stderr += `WARN[0000] Found orphan containers ([${orphans.map((o) => o.name).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up. \n`;
  }
  for (const s of model.services) {
    const current = host.containers.get(s.container);
    if (current?.configHash === s.hash && current.running) {
      stderr += ` Container ${s.container}  Running\n`;
      continue;
    }
    const verb = current ? (current.configHash === s.hash ? '' : 'Recreate') : 'Create';
    if (verb) stderr += ` Container ${s.container}  ${verb}\n Container ${s.container}  ${verb}d\n`;
    const now = env.stamp();
    host.containers.set(s.container, {
      id: dockerId(`${s.container}@${now}`),
      name: s.container,
      image: s.image,
      created: verb ? now : current!.created,
      running: true,
      startedAt: now,
      finishedAt: current?.finishedAt ?? NEVER,
      exitCode: 0,
      project,
      service: s.name,
      configHash: s.hash,
    });
    stderr += ` Container ${s.container}  Starting\n Container ${s.container}  Started\n`;
  }
  return ok('', stderr);
}

function ps(host: DockerHost, project: string, argv: readonly string[], env: ComposeEnv): CliResult {
  const p = parseFlags(argv, { valued: { '--format': 'format' }, bools: { '-a': 'all', '--all': 'all' } });
  if ('error' in p) return fail(p.error);
  if (last(p, 'format') !== 'json') return fail('emulator: only --format json');
  const rows = [...host.containers.values()]
    .filter((c) => c.project === project && (c.running || has(p, 'all')))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((c) => ({
      Command: '"/entrypoint"',
      CreatedAt: c.created,
      ExitCode: c.exitCode,
      Health: '',
      ID: c.id.slice(0, 12),
      Image: c.image,
      Name: c.name,
      Project: project,
      Publishers: [],
      Service: c.service,
      State: c.running ? 'running' : 'exited',
      Status: c.running ? 'Up 2 seconds' : `Exited (${c.exitCode}) 2 seconds ago`,
    }));
  if (env.psFormat === 'array') return ok(`${JSON.stringify(rows)}\n`);
  return ok(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

function readEnv(
  paths: readonly string[],
  dir: string | undefined,
  files: GuestFiles,
): Record<string, string> {
  // Without --env-file, compose reads .env of the project directory when there is one.
  const list = paths.length ? paths : dir && files.read(`${dir}/.env`) !== undefined ? [`${dir}/.env`] : [];
  const vars: Record<string, string> = {};
  for (const path of list) {
    const text = files.read(path);
    if (text === undefined) throw new Error(`couldn't find env file: ${path}`);
    try {
      Object.assign(
        vars,
        parseDotenv(text, (n) => vars[n]),
      );
    } catch (err) {
      throw new Error(`failed to read ${path}: ${(err as Error).message}`);
    }
  }
  return vars;
}

function readModel(
  project: string,
  text: string,
  vars: Record<string, string>,
  missing: (name: string) => void,
): Model {
  const doc: unknown = YAML.parse(interpolate(text, (n) => vars[n], missing));
  if (!isRecord(doc) || !isRecord(doc.services)) throw new Error('services must be a mapping');
  const volumes = Object.entries(isRecord(doc.volumes) ? doc.volumes : {}).map(([key, def]) => {
    const spec = isRecord(def) ? def : {};
    const external = spec.external === true;
    const name = typeof spec.name === 'string' ? spec.name : external ? key : `${project}_${key}`;
    return { key, name, external };
  });
  const declared = new Set(volumes.map((v) => v.key));
  const services: Service[] = [];
  for (const [name, def] of Object.entries(doc.services)) {
    if (!isRecord(def)) throw new Error(`service "${name}" must be a mapping`);
    if (typeof def.image !== 'string' && def.build === undefined)
      throw new Error(
        `service "${name}" has neither an image nor a build context specified: invalid compose project`,
      );
    for (const source of namedVolumes(def.volumes)) {
      if (!declared.has(source))
        throw new Error(`service "${name}" refers to undefined volume ${source}: invalid compose project`);
    }
    if (Array.isArray(def.profiles) && def.profiles.length > 0) continue;
    services.push({
      name,
      container: typeof def.container_name === 'string' ? def.container_name : `${project}-${name}-1`,
      image: typeof def.image === 'string' ? def.image : `${project}-${name}`,
      hash: dockerId(JSON.stringify(def)),
    });
  }
  return { services, volumes: volumes.map(({ name, external }) => ({ name, external })) };
}

function namedVolumes(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: unknown) => {
    if (typeof item === 'string') {
      const [source = '', target] = item.split(':');
      return target !== undefined && !/^[/.~$]/.test(source) ? [source] : [];
    }
    return isRecord(item) && item.type === 'volume' && typeof item.source === 'string' ? [item.source] : [];
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
