import { stackContentHash } from '../containers/content-hash.js';
import type { StackDeploy, StackObservation, VolumeSpec } from '../containers/types.js';
import type { PhoenixSecret, SecretSource } from '../secrets/types.js';
import { checkAdmin, ensureAdmin } from './admin.js';
import { PortainerClient } from './client.js';
import type { PortainerClientOptions } from './client.js';
import { environmentDrift, ensureAgentEnvironment, findEnvironment } from './endpoints.js';
import { PortainerApiError, PortainerTransportError } from './errors.js';
import type {
  AgentEnvironment,
  EnvironmentObservation,
  PortainerDriver,
  ServerStatus,
  StackPlacement,
} from './driver.js';
import { PortainerNotReady } from './driver.js';
import { portainerHttpsTransport } from './http.js';
import { composeServices, deployComposeStack, isSwarmStack, observeComposeStack } from './stacks.js';
import type { DockerVolume } from './types.js';
import { ensureVolume, listVolumes } from './volumes.js';

/**
 * PortainerDriver over the HTTP API (a real Portainer, or the lab's emulator). The server is addressed by
 * IP and verified against the internal CA under its configured name; the administrator's password is read
 * from its secret at the first authenticated call and stays inside the client.
 */

export interface PortainerApiDriverOptions {
  /** https://ADDRESS:PORT */
  readonly baseUrl: string;
  /** The name on the server's certificate, when baseUrl holds an address. */
  readonly servername?: string;
  /** The internal CA root (read when first needed: the CA may not exist before the first sync). */
  readonly caPem: () => Promise<string>;
  readonly adminUser: string;
  readonly secrets: SecretSource;
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly retryDelayMs?: number;
}

const ADMIN_PASSWORD: PhoenixSecret = 'portainer-admin-password';

export class PortainerApiDriver implements PortainerDriver {
  readonly name = 'portainer-api';
  #public: Promise<PortainerClient> | undefined;
  #authed: Promise<PortainerClient> | undefined;
  readonly #environmentIds = new Map<string, number>();

  constructor(private readonly options: PortainerApiDriverOptions) {}

  async #client(auth: boolean): Promise<PortainerClient> {
    const make = async (): Promise<PortainerClient> => {
      const o = this.options;
      const servername = o.servername;
      const base: PortainerClientOptions = {
        baseUrl: o.baseUrl,
        caPem: await o.caPem(),
        transport: servername
          ? (req) => portainerHttpsTransport({ ...req, servername })
          : portainerHttpsTransport,
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        ...(o.retries === undefined ? {} : { retries: o.retries }),
        ...(o.retryDelayMs === undefined ? {} : { retryDelayMs: o.retryDelayMs }),
      };
      if (!auth) return new PortainerClient(base);
      const password = await o.secrets.read(ADMIN_PASSWORD);
      return new PortainerClient({ ...base, auth: { kind: 'password', username: o.adminUser, password } });
    };
    // A failure (the CA not there yet on a fresh system) is not kept: the next call tries again.
    const forget = (err: unknown): never => {
      if (auth) this.#authed = undefined;
      else this.#public = undefined;
      throw err;
    };
    if (auth) return (this.#authed ??= make().catch(forget));
    return (this.#public ??= make().catch(forget));
  }

  /**
   * Runs a call, telling "not ready yet" (no answer, no administrator to log in as) from real failures: a
   * read then sees nothing there yet instead of failing the plan.
   */
  async #ready<T>(fn: (client: PortainerClient) => Promise<T>, auth = true): Promise<T> {
    try {
      return await fn(await this.#client(auth));
    } catch (err) {
      if (err instanceof PortainerTransportError && err.failure === 'unreachable')
        throw new PortainerNotReady(`Portainer does not answer at ${this.options.baseUrl}: ${err.message}`);
      if (err instanceof PortainerApiError && err.path === '/api/auth' && !(await this.adminExists()))
        throw new PortainerNotReady('Portainer has no administrator yet');
      throw err;
    }
  }

  async status(): Promise<ServerStatus> {
    const client = await this.#client(false);
    try {
      // /api/status: the one call Portainer still answers after its initialisation window closed.
      const answer = await client.json<{ Version?: string }>('GET', '/api/status', { auth: false });
      return { answering: true, version: answer.Version ?? 'unknown' };
    } catch (err) {
      if (err instanceof PortainerTransportError) return { answering: false, reason: err.message };
      throw err;
    }
  }

  async adminExists(): Promise<boolean> {
    return this.#ready(async (c) => (await checkAdmin(c)) === 'exists', false);
  }

  async initAdmin(): Promise<'created' | 'existed'> {
    const password = await this.options.secrets.read(ADMIN_PASSWORD);
    return ensureAdmin(await this.#client(false), { username: this.options.adminUser, password });
  }

  async getEnvironment(name: string, agent?: AgentEnvironment): Promise<EnvironmentObservation | undefined> {
    const found = await this.#ready((c) => findEnvironment(c, name));
    if (!found) return undefined;
    this.#environmentIds.set(found.Name, found.Id);
    const drift = agent ? environmentDrift(found, spec(agent)) : [];
    return { name: found.Name, url: found.URL, drift };
  }

  async ensureEnvironment(wanted: AgentEnvironment): Promise<void> {
    const { environment } = await this.#ready((c) => ensureAgentEnvironment(c, spec(wanted)));
    this.#environmentIds.set(environment.Name, environment.Id);
  }

  async #endpointId(name: string): Promise<number> {
    const known = this.#environmentIds.get(name);
    if (known !== undefined) return known;
    const found = await this.#ready((c) => findEnvironment(c, name));
    if (!found) throw new PortainerNotReady(`Portainer has no environment ${name} yet`);
    this.#environmentIds.set(name, found.Id);
    return found.Id;
  }

  /** The volumes found on the environment; on a swarm, those on every node the placement allows. */
  async listVolumes(environment: string, placement?: StackPlacement): Promise<VolumeSpec[]> {
    const id = await this.#endpointId(environment);
    if (placement?.mode !== 'swarm') return (await this.#ready((c) => listVolumes(c, id))).map(volumeSpecOf);
    const swarm = await import('./swarm.js');
    const perNode = await this.#ready(async (c) =>
      swarm.listVolumesOnNodes(c, id, await eligible(c, id, placement)),
    );
    const [first, ...others] = perNode;
    return (first?.volumes ?? [])
      .filter((v) => others.every((n) => n.volumes.some((w) => w.Name === v.Name)))
      .map(volumeSpecOf);
  }

  async createVolume(environment: string, volume: VolumeSpec, placement?: StackPlacement): Promise<void> {
    const id = await this.#endpointId(environment);
    if (placement?.mode !== 'swarm') {
      await this.#ready((c) => ensureVolume(c, id, volume));
      return;
    }
    const swarm = await import('./swarm.js');
    await this.#ready(async (c) =>
      swarm.ensureVolumeOnNodes(c, id, volume, await eligible(c, id, placement)),
    );
  }

  async getStack(environment: string, name: string): Promise<StackObservation | undefined> {
    const endpointId = await this.#endpointId(environment);
    const seen = await this.#ready((c) => observeComposeStack(c, { name, endpointId, compose: '', env: {} }));
    if (!seen.stack || seen.file === undefined) return undefined;
    const env = Object.fromEntries((seen.stack.Env ?? []).map((p) => [p.name, p.value]));
    if (isSwarmStack(seen.stack)) {
      const swarm = await import('./swarm.js');
      const names = await composeServices(seen.file).catch(() => [] as string[]);
      const states = await this.#ready((c) => swarm.swarmServiceStates(c, { name, endpointId }, names));
      return {
        name,
        contentHash: stackContentHash(seen.file, env),
        services: states.map((s) => ({ name: s.service, container: s.serviceId ?? '', running: s.running })),
      };
    }
    return {
      name,
      contentHash: stackContentHash(seen.file, env),
      services: seen.services.map((s) => ({
        name: s.service,
        container: s.containers[0]?.name ?? '',
        running: s.running,
      })),
    };
  }

  async deployStack(environment: string, stack: StackDeploy, placement?: StackPlacement): Promise<void> {
    const endpointId = await this.#endpointId(environment);
    const spec = { name: stack.name, endpointId, compose: stack.compose, env: stack.env };
    if (placement?.mode !== 'swarm') {
      await this.#ready((c) => deployComposeStack(c, spec));
      return;
    }
    const swarm = await import('./swarm.js');
    await this.#ready((c) =>
      swarm.deploySwarmStack(c, { ...spec, constraints: placement.constraints ?? [] }),
    );
  }
}

const spec = (wanted: AgentEnvironment) => ({ name: wanted.name, host: wanted.host, port: wanted.port });

/** The swarm nodes a placement allows (and that are ready): where its volumes must exist. */
async function eligible(client: PortainerClient, endpointId: number, placement: StackPlacement) {
  const swarm = await import('./swarm.js');
  return swarm.eligibleNodes(await swarm.listSwarmNodes(client, endpointId), placement.constraints ?? []);
}

/** The spec a volume was created from (volumes.ts writes NFS as local + type/o/device options). */
function volumeSpecOf(v: DockerVolume): VolumeSpec {
  const o = v.Options ?? {};
  if (o.type !== 'nfs') return { name: v.Name, driver: 'local' };
  const parts = (o.o ?? '').split(',');
  const server = parts.find((p) => p.startsWith('addr='))?.slice(5);
  const rest = parts.filter((p) => p !== '' && !p.startsWith('addr=')).join(',');
  return {
    name: v.Name,
    driver: 'nfs',
    ...(server ? { server } : {}),
    export: (o.device ?? '').replace(/^:/, ''),
    ...(rest ? { options: rest } : {}),
  };
}
