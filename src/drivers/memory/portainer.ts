import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { StackDeploy, StackObservation, VolumeSpec } from '../containers/types.js';
import { DriverError } from '../errors.js';
import type {
  AgentEnvironment,
  EnvironmentObservation,
  PortainerDriver,
  ServerStatus,
  StackPlacement,
} from '../portainer/driver.js';
import { PORTAINER_MUTATIONS, PortainerNotReady } from '../portainer/driver.js';
import type { SecretSource } from '../secrets/types.js';
import { AGENT_CONTAINER, AGENT_PROJECT } from '../../generate/compose-deploy.js';
import { LOCAL_ENVIRONMENT, type PortainerTopology } from '../../model/portainer.js';
import { CallRecorder, type MemoryDriverOptions } from './calls.js';
import {
  applyDeploy,
  checkDeploy,
  createVolume,
  DAEMON_DOWN,
  emptyDocker,
  listVolumes,
  observeStack,
  scanStack,
  volumeNeeded,
} from './docker-model.js';
import type { MemoryWorld, WorldDocker, WorldPortainer } from './world.js';

/**
 * Portainer in the memory world: it answers while the server's project runs on the primary's Docker; an
 * agent environment can be registered while the agent's project runs on its guest; stacks and volumes
 * deployed through an environment land in that guest's Docker (the same docker-model as direct deploys, so
 * a missing external volume fails the same way). Its database (administrator as a salted hash,
 * environments) lives in the world. Swarm is not emulated here (the API driver and its emulator cover it).
 */
export class MemoryPortainer implements PortainerDriver {
  readonly name = 'memory-portainer';
  private readonly recorder: CallRecorder;

  constructor(
    private readonly world: MemoryWorld,
    private readonly topology: PortainerTopology | undefined,
    private readonly secrets: SecretSource,
    options: MemoryDriverOptions = {},
  ) {
    this.recorder = new CallRecorder(PORTAINER_MUTATIONS, options);
  }

  get calls(): ReadonlyMap<string, number> {
    return this.recorder.calls;
  }
  get faults() {
    return this.recorder.faults;
  }

  private get db(): WorldPortainer {
    return this.world.state.portainer ?? { environments: {} };
  }

  private reason(): string | undefined {
    const t = this.topology;
    if (!t) return 'the configuration declares no Portainer server';
    const docker = this.world.guest(t.server.guest)?.docker;
    const seen = t.server.stack && docker ? observeStack(docker, t.server.stack) : undefined;
    if (!seen || this.world.guest(t.server.guest)?.status !== 'running')
      return `connect ECONNREFUSED ${t.server.address}:${t.server.port}`;
    const down = seen.services.filter((s) => !s.running);
    return down.length ? `connect ECONNREFUSED ${t.server.address}:${t.server.port}` : undefined;
  }

  /** Every API call but the status needs a server that answers. */
  private answering(): PortainerTopology {
    const reason = this.reason();
    if (reason) throw new PortainerNotReady(`Portainer does not answer: ${reason}`);
    return this.topology!;
  }

  private authenticated(): PortainerTopology {
    const t = this.answering();
    if (!this.db.admin) throw new PortainerNotReady('Portainer has no administrator yet');
    return t;
  }

  async status(): Promise<ServerStatus> {
    await this.recorder.enter('status', []);
    const reason = this.reason();
    return reason ? { answering: false, reason } : { answering: true, version: '2.x (memory)' };
  }

  async adminExists(): Promise<boolean> {
    await this.recorder.enter('adminExists', []);
    this.answering();
    return this.db.admin !== undefined;
  }

  async initAdmin(): Promise<'created' | 'existed'> {
    await this.recorder.enter('initAdmin', []);
    const t = this.answering();
    if (this.db.admin) return 'existed';
    const password = await this.secrets.read('portainer-admin-password');
    if (password.length < 12)
      throw new DriverError('Portainer answered 400: Password does not meet the requirements');
    const salt = randomBytes(16);
    const hash = scryptSync(password, salt, 32);
    this.world.mutate((s) => {
      s.portainer ??= { environments: {} };
      s.portainer.admin = { username: t.adminUser, salt: salt.toString('hex'), hash: hash.toString('hex') };
    });
    return 'created';
  }

  /** For tests: whether `password` is the administrator's (compared by hash). */
  adminPasswordIs(password: string): boolean {
    const admin = this.db.admin;
    if (!admin) return false;
    const hash = scryptSync(password, Buffer.from(admin.salt, 'hex'), 32);
    return timingSafeEqual(hash, Buffer.from(admin.hash, 'hex'));
  }

  async getEnvironment(name: string, agent?: AgentEnvironment): Promise<EnvironmentObservation | undefined> {
    await this.recorder.enter('getEnvironment', [name]);
    this.authenticated();
    if (name === LOCAL_ENVIRONMENT) return { name, url: 'unix:///var/run/docker.sock', drift: [] };
    const env = this.db.environments[name];
    if (!env) return undefined;
    const url = agent ? `tcp://${agent.host}:${agent.port}` : env.url;
    return { name, url: env.url, drift: env.url === url ? [] : [`URL is ${env.url}, declared ${url}`] };
  }

  async ensureEnvironment(wanted: AgentEnvironment): Promise<void> {
    await this.recorder.enter('ensureEnvironment', [wanted.name]);
    const t = this.authenticated();
    if (this.db.environments[wanted.name]) return;
    const agent = t.agents.find((a) => a.address === wanted.host && a.port === wanted.port);
    const docker = agent && this.world.guest(agent.guest)?.docker;
    const running = docker?.stacks[AGENT_PROJECT] && docker.containers[AGENT_CONTAINER]?.running;
    if (!agent || !running) {
      throw new DriverError(
        `Portainer answered 500: Unable to initiate communications with environment (dial tcp ${wanted.host}:${wanted.port}: connect: connection refused)`,
      );
    }
    this.world.mutate((s) => {
      s.portainer ??= { environments: {} };
      s.portainer.environments[wanted.name] = {
        url: `tcp://${wanted.host}:${wanted.port}`,
        guest: agent.guest,
      };
    });
  }

  private guestOf(environment: string): number {
    const t = this.authenticated();
    if (environment === LOCAL_ENVIRONMENT) return t.server.guest;
    const env = this.db.environments[environment];
    if (!env) throw new PortainerNotReady(`Portainer has no environment ${environment} yet`);
    return env.guest;
  }

  private docker(environment: string): WorldDocker {
    const guest = this.world.guest(this.guestOf(environment));
    if (!guest || guest.status !== 'running') throw new DriverError(`Portainer answered 500: ${DAEMON_DOWN}`);
    return guest.docker;
  }

  async listVolumes(environment: string, placement?: StackPlacement): Promise<VolumeSpec[]> {
    await this.recorder.enter('listVolumes', [environment]);
    refuseSwarm(placement);
    return listVolumes(this.world.guest(this.guestOf(environment))?.docker ?? emptyDocker());
  }

  async createVolume(environment: string, spec: VolumeSpec, placement?: StackPlacement): Promise<void> {
    await this.recorder.enter('createVolume', [environment, spec]);
    refuseSwarm(placement);
    const docker = this.docker(environment);
    if (volumeNeeded(docker, spec)) this.world.mutate(() => createVolume(docker, spec));
  }

  async getStack(environment: string, name: string): Promise<StackObservation | undefined> {
    await this.recorder.enter('getStack', [environment, name]);
    return observeStack(this.world.guest(this.guestOf(environment))?.docker ?? emptyDocker(), name);
  }

  async deployStack(environment: string, stack: StackDeploy, placement?: StackPlacement): Promise<void> {
    await this.recorder.enter('deployStack', [environment, stack]);
    refuseSwarm(placement);
    const scanned = await scanStack(stack);
    const docker = this.docker(environment);
    try {
      checkDeploy(docker, stack, scanned);
    } catch (err) {
      throw new DriverError(`Portainer answered 500: failed to deploy a stack: ${(err as Error).message}`);
    }
    this.world.mutate(() => applyDeploy(docker, stack, scanned, this.world.now()));
  }
}

function refuseSwarm(placement: StackPlacement | undefined): void {
  if (placement?.mode === 'swarm') {
    throw new DriverError(
      'swarm stacks are not emulated by the memory driver; use the lab or a real Portainer',
    );
  }
}
