import { parse as parseYaml } from 'yaml';
import type {
  ContainerDriver,
  ContainerObservation,
  StackDeploy,
  StackObservation,
  VolumeSpec,
} from '../containers/types.js';
import { DriverError, NotFoundError } from '../errors.js';
import type { ExecResult, HypervisorDriver } from '../hypervisor/types.js';
import type { DockerVolume } from '../portainer/types.js';
import { volumeDrift, volumeRequest } from '../portainer/volumes.js';
import type { GuestId } from '../../model/inventory.js';

/**
 * Docker on one guest through its own CLI, run inside the guest by the hypervisor (the QEMU guest agent
 * for a VM, pct for a CT): what must exist before Portainer can drive anything — the Portainer server's
 * compose project and volume, the agents' projects, the server's restart after a certificate renewal.
 *
 * A stack lives in `<stacksDir>/<name>/`: docker-compose.yml (0644), .env (0600; it may hold the agent
 * secret, so values never reach argv, logs or messages) and .phoenix-content, the content hash written
 * only after `compose up` succeeded, so a failed deploy still reads as the previous one.
 *
 * Reads of a guest that does not exist, is stopped or has no Docker yet see an empty daemon (a plan made
 * before the guest is); changes need the guest running.
 */

export const STACKS_DIR = '/opt/phoenix/stacks';
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const CONTAINER_NAME = /^\/?[A-Za-z0-9][A-Za-z0-9_.-]+$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ROOT = { owner: 'root', group: 'root' } as const;
/**
 * `docker` missing: the guest agent cannot spawn it (VM), lxc-attach cannot exec it (CT). The agent's
 * curly quotes reach us mangled (the API puts the message in the HTTP status line), hence any non-word run.
 */
const NO_DOCKER = /Failed to exec(?:ute child process)?\W{1,6}docker\b/;

export interface DockerCliOptions {
  readonly stacksDir?: string;
  /** `compose up` may pull images: default 15 minutes. */
  readonly deployTimeoutMs?: number;
  /** Every other command: default 2 minutes. */
  readonly timeoutMs?: number;
}

/** A docker command that exited non-zero; the message holds the tail of its stderr, with env values masked. */
export class DockerCommandFailed extends DriverError {
  constructor(
    readonly guest: GuestId,
    readonly command: string,
    readonly exitCode: number,
    readonly stderrTail: string,
  ) {
    super(
      `guest ${guest}: \`${command}\` failed (exit ${exitCode})${stderrTail ? `: ${stderrTail}` : ''}`,
      false,
      'docker',
    );
    this.name = 'DockerCommandFailed';
  }
}

export class DockerCliContainers implements ContainerDriver {
  readonly name = 'docker-cli';
  private readonly stacksDir: string;
  private readonly deployTimeoutMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly hv: HypervisorDriver,
    options: DockerCliOptions = {},
  ) {
    this.stacksDir = options.stacksDir ?? STACKS_DIR;
    this.deployTimeoutMs = options.deployTimeoutMs ?? 15 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  async listVolumes(guest: GuestId): Promise<VolumeSpec[]> {
    if (!(await this.live(guest))) return [];
    const ls = await this.ask(guest, ['volume', 'ls', '--format', '{{json .}}']);
    if (!ls) return [];
    const names = jsonLines<{ Name?: unknown }>(ls.stdout, guest, 'docker volume ls')
      .map((v) => v.Name)
      .filter((n): n is string => typeof n === 'string');
    const volumes = await this.inspectVolumes(guest, names);
    return volumes
      .map(volumeSpecOf)
      .filter((v): v is VolumeSpec => v !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async getStack(guest: GuestId, name: string): Promise<StackObservation | undefined> {
    checkProject(name);
    if (!(await this.live(guest))) return undefined;
    const content = await this.hv.readFile(guest, this.path(name, '.phoenix-content'));
    if (!content) return undefined;
    const ps = await this.ask(guest, ['compose', '--project-name', name, 'ps', '--all', '--format', 'json']);
    if (!ps) return undefined;
    const containers = composePs(ps.stdout, guest);
    const compose = await this.hv.readFile(guest, this.path(name, 'docker-compose.yml'));
    const declared = compose ? composeServices(name, new TextDecoder().decode(compose.content), guest) : [];
    const services = containers.map((c) => ({
      name: c.Service,
      container: c.Name,
      running: c.State === 'running',
    }));
    for (const d of declared) {
      if (!services.some((s) => s.name === d.name)) services.push({ ...d, running: false });
    }
    return { name, contentHash: new TextDecoder().decode(content.content).trim(), services };
  }

  async getContainer(guest: GuestId, name: string): Promise<ContainerObservation | undefined> {
    checkContainer(name);
    if (!(await this.live(guest))) return undefined;
    const r = await this.ask(guest, ['inspect', '--type', 'container', '--', name], true);
    if (!r || (r.exitCode !== 0 && /No such (container|object)/.test(r.stderr))) return undefined;
    this.check(guest, `docker inspect --type container ${name}`, r);
    const [c] = parseJson<Array<{ Name?: string; State?: { Running?: boolean; StartedAt?: string } }>>(
      r.stdout,
      guest,
      'docker inspect',
    );
    if (!c?.State)
      throw new DriverError(`guest ${guest}: docker inspect ${name} returned no container state`);
    return {
      name: (c.Name ?? name).replace(/^\//, ''),
      running: c.State.Running === true,
      startedAt: c.State.StartedAt ?? '',
    };
  }

  async createVolume(guest: GuestId, spec: VolumeSpec): Promise<void> {
    const req = validated(() => volumeRequest(spec));
    await this.running(guest, `create volume ${spec.name}`);
    const argv = ['volume', 'create', '--driver', req.Driver];
    for (const [k, v] of Object.entries(req.DriverOpts)) argv.push('--opt', `${k}=${v}`);
    for (const [k, v] of Object.entries(req.Labels)) argv.push('--label', `${k}=${v}`);
    argv.push('--', req.Name);
    this.check(guest, `docker volume create ${req.Name}`, await this.docker(guest, argv));
    // Docker's create is "get or create": a volume already there keeps its own options.
    const [found] = await this.inspectVolumes(guest, [req.Name]);
    if (!found) throw new DriverError(`guest ${guest}: volume ${req.Name} is not listed after creating it`);
    const drift = volumeDrift(found, spec);
    if (drift.length > 0)
      throw new DriverError(
        `guest ${guest}: volume ${req.Name} exists with other settings (${drift.join('; ')}); ` +
          'Phoenix does not remove volumes — move its data and remove it by hand, or change the configuration',
      );
  }

  async deployStack(guest: GuestId, stack: StackDeploy): Promise<void> {
    checkProject(stack.name);
    const env = envFile(stack);
    await this.running(guest, `deploy stack ${stack.name}`);
    const dir = this.path(stack.name);
    // Created private, so the env file is never readable by others, not even while it is staged.
    this.check(guest, `mkdir ${dir}`, await this.hv.exec(guest, ['mkdir', '-p', '-m', '0700', dir]));
    const composePath = this.path(stack.name, 'docker-compose.yml');
    const envPath = this.path(stack.name, '.env');
    const bytes = (s: string) => new TextEncoder().encode(s);
    await this.hv.writeFile(guest, composePath, bytes(stack.compose), { ...ROOT, mode: 0o644 });
    await this.hv.writeFile(guest, envPath, bytes(env), { ...ROOT, mode: 0o600 });
    const up = await this.docker(
      guest,
      [
        'compose',
        '--ansi',
        'never',
        '--project-name',
        stack.name,
        '--project-directory',
        dir,
        '-f',
        composePath,
        '--env-file',
        envPath,
        'up',
        '-d',
        '--remove-orphans',
      ],
      this.deployTimeoutMs,
    );
    this.check(guest, `docker compose up (stack ${stack.name})`, up, Object.values(stack.env));
    const content = bytes(`${stack.contentHash}\n`);
    await this.hv.writeFile(guest, this.path(stack.name, '.phoenix-content'), content, {
      ...ROOT,
      mode: 0o644,
    });
  }

  async restartContainer(guest: GuestId, name: string): Promise<void> {
    checkContainer(name);
    await this.running(guest, `restart container ${name}`);
    const r = await this.docker(guest, ['restart', '--', name]);
    if (r.exitCode !== 0 && /No such container/.test(r.stderr))
      throw new NotFoundError(`container ${name} on guest ${guest}`);
    this.check(guest, `docker restart ${name}`, r);
  }

  private path(stack: string, file?: string): string {
    return file ? `${this.stacksDir}/${stack}/${file}` : `${this.stacksDir}/${stack}`;
  }

  /** Whether the guest's daemon can be asked at all: a guest that does not exist or is stopped has none. */
  private async live(guest: GuestId): Promise<boolean> {
    return (await this.hv.getGuest(guest))?.status === 'running';
  }

  private async running(guest: GuestId, doing: string): Promise<void> {
    const g = await this.hv.getGuest(guest);
    if (!g) throw new NotFoundError(`guest ${guest}`);
    if (g.status !== 'running')
      throw new DriverError(
        `guest ${guest} is ${g.status}: cannot ${doing} (its Docker daemon is not running)`,
      );
  }

  /**
   * A read on a running guest: undefined when Docker is not installed (yet); a non-zero exit is an error
   * unless the caller looks at it (`own`).
   */
  private async ask(guest: GuestId, argv: string[], own = false): Promise<ExecResult | undefined> {
    let r: ExecResult;
    try {
      r = await this.hv.exec(guest, ['docker', ...argv], { timeoutMs: this.timeoutMs });
    } catch (err) {
      if (err instanceof Error && NO_DOCKER.test(err.message)) return undefined;
      throw err;
    }
    if (r.exitCode !== 0 && NO_DOCKER.test(r.stderr)) return undefined;
    if (!own) this.check(guest, `docker ${argv.slice(0, 2).join(' ')}`, r);
    return r;
  }

  private async docker(guest: GuestId, argv: string[], timeoutMs = this.timeoutMs): Promise<ExecResult> {
    try {
      return await this.hv.exec(guest, ['docker', ...argv], { timeoutMs });
    } catch (err) {
      if (err instanceof Error && NO_DOCKER.test(err.message))
        throw new DriverError(`guest ${guest}: docker is not installed (${err.message})`, false, 'docker');
      throw err;
    }
  }

  private check(guest: GuestId, command: string, r: ExecResult, secrets: readonly string[] = []): void {
    if (r.exitCode !== 0) throw new DockerCommandFailed(guest, command, r.exitCode, tail(r.stderr, secrets));
  }

  /** `docker volume inspect`; a volume removed since it was listed is skipped. */
  private async inspectVolumes(guest: GuestId, names: readonly string[]): Promise<DockerVolume[]> {
    if (names.length === 0) return [];
    const r = await this.ask(guest, ['volume', 'inspect', '--', ...names], true);
    if (!r) return [];
    const gone = r.stderr
      .split('\n')
      .filter((l) => l.trim())
      .every((l) => /no such volume/i.test(l));
    if (r.exitCode !== 0 && !gone) this.check(guest, 'docker volume inspect', r);
    return parseJson<DockerVolume[] | null>(r.stdout || '[]', guest, 'docker volume inspect') ?? [];
  }
}

/**
 * The VolumeSpec an inspected volume stands for: the inverse of volumeRequest's encoding (an NFS volume is
 * a local one with type=nfs, o=addr=SERVER[,OPTIONS], device=:EXPORT). Other drivers cannot be declared.
 */
export function volumeSpecOf(v: Pick<DockerVolume, 'Name' | 'Driver' | 'Options'>): VolumeSpec | undefined {
  if (v.Driver !== 'local') return undefined;
  const opts = v.Options ?? {};
  if (opts.type !== 'nfs' && opts.type !== 'nfs4') return { name: v.Name, driver: 'local' };
  const parts = (opts.o ?? '').split(',').filter(Boolean);
  const server = parts.find((p) => p.startsWith('addr='))?.slice('addr='.length) ?? '';
  const rest = parts.filter((p) => !p.startsWith('addr=')).join(',');
  return {
    name: v.Name,
    driver: 'nfs',
    server,
    export: (opts.device ?? '').replace(/^:/, ''),
    ...(rest ? { options: rest } : {}),
  };
}

/**
 * The .env text. Single quotes make compose take a value verbatim (no interpolation, no escapes) in every
 * compose v2 parser, as long as it holds no single quote or line break and does not end in a backslash
 * (which would escape the closing quote); anything else is refused rather than deployed altered.
 */
export function envFile(stack: StackDeploy): string {
  return Object.keys(stack.env)
    .sort()
    .map((key) => {
      if (!ENV_KEY.test(key))
        throw new DriverError(
          `stack ${stack.name}: invalid variable name ${JSON.stringify(key)}`,
          false,
          'invalid',
        );
      const value = stack.env[key]!;
      if (/['\n\r\0]/.test(value) || value.endsWith('\\'))
        throw new DriverError(
          `stack ${stack.name}: the value of ${key} cannot be written to an env file verbatim ` +
            '(it holds a single quote, a line break or a trailing backslash)',
          false,
          'invalid',
        );
      return `${key}='${value}'\n`;
    })
    .join('');
}

interface PsEntry {
  readonly Service: string;
  readonly Name: string;
  readonly State: string;
}

/** `compose ps --format json`: one object per line (v2.21 and later) or one array (before). */
export function composePs(stdout: string, guest: GuestId): PsEntry[] {
  const text = stdout.trim();
  const rows = text.startsWith('[')
    ? parseJson<PsEntry[]>(text, guest, 'docker compose ps')
    : jsonLines<PsEntry>(text, guest, 'docker compose ps');
  return rows.filter((r) => typeof r.Service === 'string' && typeof r.Name === 'string');
}

/** Services `up` starts (those behind a profile it does not), with the container name compose gives them. */
function composeServices(
  project: string,
  text: string,
  guest: GuestId,
): Array<{ name: string; container: string }> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new DriverError(
      `guest ${guest}: the compose file of stack ${project} does not parse: ${(err as Error).message}`,
    );
  }
  const services = isRecord(doc) && isRecord(doc.services) ? doc.services : {};
  return Object.entries(services)
    .filter(([, def]) => !(isRecord(def) && Array.isArray(def.profiles) && def.profiles.length > 0))
    .map(([name, def]) => {
      const explicit = isRecord(def) ? def.container_name : undefined;
      const container =
        typeof explicit === 'string' && !explicit.includes('$') ? explicit : `${project}-${name}-1`;
      return { name, container };
    });
}

function checkProject(name: string): void {
  if (!PROJECT_NAME.test(name))
    throw new DriverError(
      `invalid compose project name ${JSON.stringify(name)}: lowercase letters, digits, "-" and "_", starting with a letter or digit`,
      false,
      'invalid',
    );
}

function checkContainer(name: string): void {
  if (!CONTAINER_NAME.test(name))
    throw new DriverError(`invalid container name ${JSON.stringify(name)}`, false, 'invalid');
}

function validated<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new DriverError((err as Error).message, false, 'invalid');
  }
}

/** The last lines of stderr, each env value (of 4 characters or more: shorter ones are no secret) masked. */
function tail(stderr: string, secrets: readonly string[]): string {
  let text = stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-8)
    .join('\n');
  for (const s of [...secrets].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length))
    text = text.split(s).join('***');
  return text.length > 2000 ? `…${text.slice(-2000)}` : text;
}

function parseJson<T>(text: string, guest: GuestId, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new DriverError(`guest ${guest}: unexpected output of ${what} (not JSON)`);
  }
}

function jsonLines<T>(text: string, guest: GuestId, what: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => parseJson<T>(l, guest, what));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
