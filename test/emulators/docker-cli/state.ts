import { createHash } from 'node:crypto';

/** One Docker daemon's objects, as `docker volume inspect` and `docker inspect` show them. */

export interface EmuVolume {
  readonly Name: string;
  readonly Driver: string;
  readonly Options: Record<string, string> | null;
  readonly Labels: Record<string, string> | null;
  readonly CreatedAt: string;
  readonly Mountpoint: string;
  readonly Scope: 'local';
}

export interface EmuContainer {
  readonly id: string;
  readonly name: string;
  readonly image: string;
  readonly created: string;
  running: boolean;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  /** Compose labels com.docker.compose.project / .service, and the service definition's hash. */
  readonly project?: string;
  readonly service?: string;
  readonly configHash?: string;
}

export interface DockerHost {
  readonly volumes: Map<string, EmuVolume>;
  readonly containers: Map<string, EmuContainer>;
  readonly networks: Set<string>;
}

/** Docker's zero time: FinishedAt of a container that never stopped. */
export const NEVER = '0001-01-01T00:00:00Z';

export const emptyHost = (): DockerHost => ({
  volumes: new Map(),
  containers: new Map(),
  networks: new Set(),
});

/** A stable 64-hex id, as Docker's ids look. */
export const dockerId = (seed: string) => createHash('sha256').update(seed).digest('hex');

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const ok = (stdout = '', stderr = ''): CliResult => ({ exitCode: 0, stdout, stderr });
export const fail = (stderr: string, exitCode = 1, stdout = ''): CliResult => ({
  exitCode,
  stdout,
  stderr: stderr.endsWith('\n') ? stderr : `${stderr}\n`,
});

/** Files of the guest the CLI runs in (compose reads its file and env file from there). */
export interface GuestFiles {
  read(path: string): string | undefined;
}

/** `docker inspect` of a container (the fields Docker always prints that matter here). */
export function inspectContainer(c: EmuContainer): unknown {
  return {
    Id: c.id,
    Created: c.created,
    Path: '/entrypoint',
    Args: [],
    State: {
      Status: c.running ? 'running' : 'exited',
      Running: c.running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: c.running ? 4242 : 0,
      ExitCode: c.exitCode,
      Error: '',
      StartedAt: c.startedAt,
      FinishedAt: c.finishedAt,
    },
    Image: `sha256:${dockerId(c.image)}`,
    Name: `/${c.name}`,
    RestartCount: 0,
    Config: {
      Image: c.image,
      Labels: c.project
        ? { 'com.docker.compose.project': c.project, 'com.docker.compose.service': c.service ?? '' }
        : {},
    },
  };
}
