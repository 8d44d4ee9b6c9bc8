import { setTimeout as delay } from 'node:timers/promises';
import type { PortainerClient } from './client.js';
import { dockerPath, getSwarmId } from './docker.js';
import { PortainerApiError, PortainerVerifyError } from './errors.js';
import { convergeStack } from './stack-deploy.js';
import type { DeployResult } from './stack-deploy.js';
import {
  checkStackSpec,
  composeServices,
  createSwarmStack,
  envEqual,
  findStack,
  isSwarmStack,
  readStackFile,
  updateStack,
} from './stacks.js';
import type { StackSpec, UpdateOptions } from './stacks.js';
import { injectPlacement } from './swarm-placement.js';
import type { SwarmNode } from './swarm-placement.js';
import type { PortainerStack } from './types.js';

export { constraintHolds, eligibleNodes, injectPlacement, parseConstraint } from './swarm-placement.js';
export type { PlacementConstraint, SwarmNode } from './swarm-placement.js';
export { AGENT_TARGET_HEADER, ensureVolumeOnNodes, listVolumesOnNodes } from './swarm-volumes.js';
export type { NodeVolumeResult, NodeVolumes } from './swarm-volumes.js';

/**
 * A stack on a Docker Swarm through Portainer (issue 8: the way past one Docker host). Nodes, services and
 * tasks come from the Engine API behind Portainer's Docker proxy. A swarm schedules a task on any node its
 * constraints allow and a local or NFS volume is per node, so volumes go on every eligible node first
 * (swarm-volumes.ts); constraints are matched and added to the file in swarm-placement.ts.
 */

interface DockerNode {
  readonly ID: string;
  readonly Description?: { readonly Hostname?: string; readonly Engine?: { readonly Labels?: Labels } };
  readonly Spec?: { readonly Role?: string; readonly Availability?: string; readonly Labels?: Labels };
  readonly Status?: { readonly State?: string };
}
type Labels = Readonly<Record<string, string>> | null;

interface DockerService {
  readonly ID: string;
  readonly Spec?: {
    readonly Name?: string;
    readonly Labels?: Labels;
    readonly Mode?: { readonly Replicated?: { readonly Replicas?: number }; readonly Global?: object };
  };
}

interface DockerTask {
  readonly ID: string;
  readonly ServiceID: string;
  readonly NodeID?: string;
  readonly DesiredState?: string;
  readonly Status?: { readonly State?: string; readonly Err?: string; readonly Timestamp?: string };
}

function list<T>(answer: unknown, path: string): T[] {
  if (!Array.isArray(answer))
    throw new PortainerApiError('unexpected', 'GET', path, 200, 'not a list', undefined);
  return answer as T[];
}

/** `GET /nodes`: every node of the swarm the environment manages (503 from a node that is no manager). */
export async function listSwarmNodes(client: PortainerClient, endpointId: number): Promise<SwarmNode[]> {
  const path = dockerPath(endpointId, '/nodes');
  return list<DockerNode>(await client.json<unknown>('GET', path), path).map((n) => ({
    id: n.ID,
    hostname: n.Description?.Hostname ?? '',
    role: n.Spec?.Role === 'manager' ? 'manager' : 'worker',
    availability: n.Spec?.Availability ?? '',
    state: n.Status?.State ?? '',
    labels: { ...n.Spec?.Labels },
    engineLabels: { ...n.Description?.Engine?.Labels },
  }));
}

// ---- stacks ---------------------------------------------------------------------------------------------

export interface SwarmStackDeploySpec extends StackSpec {
  /** Added to every service's `deploy.placement.constraints`. */
  readonly constraints: readonly string[];
}

export interface SwarmDeployOptions extends UpdateOptions {
  /** How long tasks may take to reach `running` (image pulls); default 60 000 ms. */
  readonly settleMs?: number;
  /** Default 1 000 ms. */
  readonly pollMs?: number;
}

export interface SwarmTaskState {
  readonly id: string;
  /** The node's hostname ('' while unassigned). */
  readonly node: string;
  readonly state: string;
  readonly err?: string;
}

export interface SwarmServiceState {
  readonly service: string;
  /** Docker's service ID (undefined: the stack has no such service). */
  readonly serviceId: string | undefined;
  /** Tasks Docker wants running. */
  readonly tasks: readonly SwarmTaskState[];
  readonly running: boolean;
  /** The latest task error, also from tasks swarm already gave up on. */
  readonly error: string | undefined;
}

/**
 * Converge one swarm stack: the file sent is the compose file with the constraints on every service; an
 * unchanged stored file and environment mean nothing is sent. Then the stored file must equal what was sent
 * and every service must have its tasks running (waiting up to `settleMs` while no task reports an error).
 */
export async function deploySwarmStack(
  client: PortainerClient,
  spec: SwarmStackDeploySpec,
  options: SwarmDeployOptions = {},
): Promise<DeployResult<SwarmServiceState>> {
  checkStackSpec(spec);
  const wanted: StackSpec = {
    name: spec.name,
    endpointId: spec.endpointId,
    env: spec.env,
    compose: injectPlacement(spec.compose, spec.constraints),
  };
  const swarmId = await getSwarmId(client, spec.endpointId);
  if (swarmId === undefined) {
    throw new PortainerVerifyError(
      `environment ${spec.endpointId} is not a swarm manager (Docker answers no swarm): stack ${spec.name} ` +
        `targets a swarm — register the agent of a manager node, or deploy it as a compose stack`,
    );
  }
  const observe = async () => {
    const stack = await findStack(client, wanted.name, wanted.endpointId);
    if (stack === undefined) return { stack, file: undefined, contentMatches: false };
    if (!isSwarmStack(stack)) {
      throw new PortainerVerifyError(
        `stack ${wanted.name} (id ${stack.Id}) on environment ${wanted.endpointId} is a compose stack, not a ` +
          `swarm stack; Phoenix does not convert it — remove it or choose another name`,
      );
    }
    const file = await readStackFile(client, stack.Id);
    return { stack, file, contentMatches: file === wanted.compose && envEqual(stack.Env, wanted.env) };
  };
  return convergeStack(wanted.name, {
    observe,
    create: () => createSwarmStack(client, { ...wanted, swarmId }),
    update: (stack) => updateStack(client, stack.Id, wanted.endpointId, wanted, options),
    verify: (stack) => verifySwarmStack(client, wanted, stack, options),
    aftermath: async () => {
      const after = await observe();
      if (after.stack === undefined) return { notRunning: [], newFileStored: undefined };
      const states = await swarmServiceStates(client, wanted, await composeServices(wanted.compose));
      return {
        notRunning: states.filter((s) => !s.running).map((s) => s.service),
        newFileStored: after.file === wanted.compose,
      };
    },
  });
}

/** Read the stored file back and wait for every service of it to run. */
export async function verifySwarmStack(
  client: PortainerClient,
  spec: StackSpec,
  stack: PortainerStack,
  options: Pick<SwarmDeployOptions, 'settleMs' | 'pollMs'> = {},
): Promise<SwarmServiceState[]> {
  const file = await readStackFile(client, stack.Id);
  if (file !== spec.compose) {
    throw new PortainerVerifyError(
      `stack ${spec.name} (id ${stack.Id}): the file Portainer stored differs from the one sent`,
    );
  }
  const names = await composeServices(spec.compose);
  const deadline = Date.now() + (options.settleMs ?? 60_000);
  for (;;) {
    const states = await swarmServiceStates(client, spec, names);
    const down = states.filter((s) => !s.running);
    if (down.length === 0) return states;
    // An error is swarm's verdict (no suitable node, a rejected mount): waiting will not change it.
    if (down.every((s) => s.error !== undefined) || Date.now() >= deadline) {
      throw new PortainerVerifyError(
        `stack ${spec.name} (id ${stack.Id}) is deployed but not running: ${down.map(describeDown).join('; ')}`,
      );
    }
    await delay(options.pollMs ?? 1000);
  }
}

function describeDown(s: SwarmServiceState): string {
  if (s.serviceId === undefined) return `${s.service} (no swarm service)`;
  const tasks = s.tasks.map((t) => `${t.state}${t.node ? ` on ${t.node}` : ''}`).join(', ') || 'no task';
  return `${s.service} (${tasks}${s.error !== undefined ? `: ${s.error}` : ''})`;
}

/** Per service of the file: its swarm service (`<stack>_<service>`), tasks wanted running, whether they run. */
export async function swarmServiceStates(
  client: PortainerClient,
  spec: Pick<StackSpec, 'name' | 'endpointId'>,
  names: readonly string[],
): Promise<SwarmServiceState[]> {
  const servicesPath = dockerPath(spec.endpointId, '/services');
  const namespace = `com.docker.stack.namespace=${spec.name}`;
  const services = list<DockerService>(
    await client.json<unknown>('GET', servicesPath, {
      query: { filters: JSON.stringify({ label: [namespace] }) },
    }),
    servicesPath,
  ).filter((s) => s.Spec?.Labels?.['com.docker.stack.namespace'] === spec.name); // a server may ignore filters
  const ids = services.map((s) => s.ID);
  const tasks = ids.length > 0 ? await listTasks(client, spec.endpointId, ids, true) : [];
  const hostnames = new Map((await listSwarmNodes(client, spec.endpointId)).map((n) => [n.id, n.hostname]));
  const states = names.map((name): SwarmServiceState => {
    const service = services.find((s) => s.Spec?.Name === `${spec.name}_${name}`);
    if (service === undefined) {
      return { service: name, serviceId: undefined, tasks: [], running: false, error: undefined };
    }
    const mine = tasks
      .filter((t) => t.ServiceID === service.ID)
      .map((t) => ({
        id: t.ID,
        node: t.NodeID ? (hostnames.get(t.NodeID) ?? t.NodeID) : '',
        state: t.Status?.State ?? '',
        ...(t.Status?.Err ? { err: t.Status.Err } : {}),
      }));
    const replicas = service.Spec?.Mode?.Replicated?.Replicas;
    const runningCount = mine.filter((t) => t.state === 'running').length;
    const running = replicas === undefined ? runningCount > 0 : runningCount >= replicas;
    return {
      service: name,
      serviceId: service.ID,
      tasks: mine,
      running,
      error: mine.find((t) => t.err)?.err,
    };
  });
  return withHistoryErrors(client, spec.endpointId, states);
}

/**
 * Swarm replaces a rejected task with a new one (desired state running, no error yet) after a delay: the
 * reason then lives only on the old task. Look it up for services that do not run and show no error.
 */
async function withHistoryErrors(
  client: PortainerClient,
  endpointId: number,
  states: SwarmServiceState[],
): Promise<SwarmServiceState[]> {
  const silent = states.filter((s) => !s.running && s.error === undefined && s.serviceId !== undefined);
  if (silent.length === 0) return states;
  const history = await listTasks(
    client,
    endpointId,
    silent.map((s) => s.serviceId!),
    false,
  );
  const latestError = (serviceId: string) =>
    history
      .filter((t) => t.ServiceID === serviceId && t.Status?.Err)
      .sort((a, b) => (b.Status?.Timestamp ?? '').localeCompare(a.Status?.Timestamp ?? ''))[0]?.Status?.Err;
  return states.map((s) => (silent.includes(s) ? { ...s, error: latestError(s.serviceId!) } : s));
}

async function listTasks(
  client: PortainerClient,
  endpointId: number,
  serviceIds: readonly string[],
  runningOnly: boolean,
): Promise<DockerTask[]> {
  const path = dockerPath(endpointId, '/tasks');
  const filters = runningOnly
    ? { service: serviceIds, 'desired-state': ['running'] }
    : { service: serviceIds };
  const tasks = list<DockerTask>(
    await client.json<unknown>('GET', path, { query: { filters: JSON.stringify(filters) } }),
    path,
  );
  return tasks.filter(
    (t) => serviceIds.includes(t.ServiceID) && (!runningOnly || t.DesiredState === 'running'),
  );
}
