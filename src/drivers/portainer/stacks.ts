import type { PortainerClient } from './client.js';
import { listProjectContainers } from './docker.js';
import { PortainerApiError, PortainerVerifyError } from './errors.js';
import { convergeStack } from './stack-deploy.js';
import type { DeployResult as GenericDeployResult } from './stack-deploy.js';
import { STACK_TYPE } from './types.js';
import type { DockerContainerSummary, EnvPair, PortainerStack } from './types.js';

/**
 * Stacks through Portainer's current API (swagger: StackList, StackCreateDockerStandaloneString,
 * StackCreateDockerSwarmString, StackUpdate, StackFileInspect):
 *
 * - find: `GET /api/stacks?filters={"EndpointID":N}`, then an exact match on the (normalised) name;
 * - create: `POST /api/stacks/create/standalone/string?endpointId=N` `{name, stackFileContent, env}`;
 *   swarm: `POST /api/stacks/create/swarm/string?endpointId=N` `{name, swarmID, stackFileContent, env}`;
 * - update: `PUT /api/stacks/{id}?endpointId=N` `{stackFileContent, env, prune, pullImage}`;
 * - read back: `GET /api/stacks/{id}/file` → `{StackFileContent}`.
 *
 * An update is not transactional: compose may have started some services and not others when Portainer
 * answers 500, and (depending on the version) the new file may or may not have been kept. A failed deploy is
 * therefore reported with Portainer's message *and* what the stack looks like afterwards.
 */

export interface StackContent {
  readonly compose: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface StackSpec extends StackContent {
  readonly name: string;
  readonly endpointId: number;
}

/** Portainer lower-cases stack names and drops characters outside [a-z0-9_-] (NormalizeStackName). */
export function normaliseStackName(name: string): string {
  return name.toLowerCase().replace(/[^-_a-z0-9]+/g, '');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws before any call for a name Portainer would rewrite, a bad endpoint id or environment name. */
export function checkStackSpec(spec: {
  readonly name: string;
  readonly endpointId: number;
  readonly env: Readonly<Record<string, string>>;
}): void {
  if (spec.name === '' || normaliseStackName(spec.name) !== spec.name) {
    throw new Error(
      `stack name ${JSON.stringify(spec.name)} is not in Portainer's normal form (lower case, [a-z0-9_-]); ` +
        `Portainer would deploy it as ${JSON.stringify(normaliseStackName(spec.name))}`,
    );
  }
  if (!Number.isInteger(spec.endpointId) || spec.endpointId < 1)
    throw new Error(`invalid endpoint id ${spec.endpointId}`);
  for (const key of Object.keys(spec.env)) {
    if (!ENV_NAME.test(key))
      throw new Error(`stack ${spec.name}: invalid environment variable name ${JSON.stringify(key)}`);
  }
}

export function envPairs(env: Readonly<Record<string, string>>): EnvPair[] {
  return Object.keys(env)
    .sort()
    .map((name) => ({ name, value: env[name]! }));
}

export function envEqual(
  stored: readonly EnvPair[] | null | undefined,
  wanted: Readonly<Record<string, string>>,
): boolean {
  const have = new Map((stored ?? []).map((p) => [p.name, p.value]));
  const keys = Object.keys(wanted);
  return have.size === keys.length && keys.every((k) => have.get(k) === wanted[k]);
}

export async function listStacks(client: PortainerClient, endpointId: number): Promise<PortainerStack[]> {
  const response = await client.call('GET', '/api/stacks', {
    query: { filters: JSON.stringify({ EndpointID: endpointId }) },
    expect: [200, 204], // 204 is documented for "no stacks"
  });
  if (response.status === 204 || response.body.trim() === '') return [];
  const list = JSON.parse(response.body) as unknown;
  if (!Array.isArray(list)) {
    throw new PortainerApiError(
      'unexpected',
      'GET',
      '/api/stacks',
      response.status,
      'the answer is not a list',
      undefined,
    );
  }
  return list as PortainerStack[];
}

export async function findStack(
  client: PortainerClient,
  name: string,
  endpointId: number,
): Promise<PortainerStack | undefined> {
  const wanted = normaliseStackName(name);
  const matches = (await listStacks(client, endpointId)).filter(
    (s) => s.EndpointId === endpointId && normaliseStackName(s.Name) === wanted,
  );
  if (matches.length > 1) {
    throw new PortainerVerifyError(
      `environment ${endpointId} has ${matches.length} stacks named ${wanted} (ids ${matches.map((s) => s.Id).join(', ')})`,
    );
  }
  return matches[0];
}

export async function readStackFile(client: PortainerClient, stackId: number): Promise<string> {
  const answer = await client.json<{ StackFileContent?: unknown }>('GET', `/api/stacks/${stackId}/file`);
  if (typeof answer.StackFileContent !== 'string') {
    throw new PortainerApiError(
      'unexpected',
      'GET',
      `/api/stacks/${stackId}/file`,
      200,
      'no StackFileContent',
      undefined,
    );
  }
  return answer.StackFileContent;
}

export async function createComposeStack(client: PortainerClient, spec: StackSpec): Promise<PortainerStack> {
  checkStackSpec(spec);
  return client.json<PortainerStack>('POST', '/api/stacks/create/standalone/string', {
    query: { endpointId: String(spec.endpointId) },
    json: { name: spec.name, stackFileContent: spec.compose, env: envPairs(spec.env) },
  });
}

export interface SwarmStackSpec extends StackSpec {
  readonly swarmId: string;
}

export async function createSwarmStack(
  client: PortainerClient,
  spec: SwarmStackSpec,
): Promise<PortainerStack> {
  checkStackSpec(spec);
  if (!/^[a-z0-9]{1,64}$/.test(spec.swarmId))
    throw new Error(`invalid swarm id ${JSON.stringify(spec.swarmId)}`);
  return client.json<PortainerStack>('POST', '/api/stacks/create/swarm/string', {
    query: { endpointId: String(spec.endpointId) },
    json: { name: spec.name, swarmID: spec.swarmId, stackFileContent: spec.compose, env: envPairs(spec.env) },
  });
}

export interface UpdateOptions {
  /** Swarm stacks only: remove services no longer in the file. Default false. */
  readonly prune?: boolean;
  /** Pull images again even when the tag is present. Default false. */
  readonly pullImage?: boolean;
}

export async function updateStack(
  client: PortainerClient,
  stackId: number,
  endpointId: number,
  content: StackContent,
  options: UpdateOptions = {},
): Promise<PortainerStack> {
  return client.json<PortainerStack>('PUT', `/api/stacks/${stackId}`, {
    query: { endpointId: String(endpointId) },
    json: {
      stackFileContent: content.compose,
      env: envPairs(content.env),
      prune: options.prune ?? false,
      pullImage: options.pullImage ?? false,
    },
  });
}

/** The stack's services (keys of `services:`), read from the compose file Phoenix sends. */
export async function composeServices(compose: string): Promise<string[]> {
  const YAML = await import('yaml');
  const data = YAML.parse(compose) as unknown;
  const services =
    typeof data === 'object' && data !== null ? (data as { services?: unknown }).services : undefined;
  if (typeof services !== 'object' || services === null || Array.isArray(services)) {
    throw new Error('the compose file has no services mapping');
  }
  return Object.keys(services);
}

export interface ServiceState {
  readonly service: string;
  readonly containers: ReadonlyArray<{ readonly name: string; readonly state: string }>;
  readonly running: boolean;
}

/** Per service of the compose file: its containers (label com.docker.compose.service) and whether one runs. */
export function serviceStates(
  services: readonly string[],
  containers: readonly DockerContainerSummary[],
): ServiceState[] {
  return services.map((service) => {
    const mine = containers
      .filter((c) => c.Labels?.['com.docker.compose.service'] === service)
      .map((c) => ({ name: (c.Names[0] ?? c.Id).replace(/^\//, ''), state: c.State }));
    return {
      service,
      containers: mine,
      running: mine.length > 0 && mine.every((c) => c.state === 'running'),
    };
  });
}

export interface StackObservation {
  readonly stack: PortainerStack | undefined;
  /** The stored compose file (undefined when the stack does not exist). */
  readonly file: string | undefined;
  readonly contentMatches: boolean;
  readonly services: readonly ServiceState[];
}

/** Read-only: what Portainer has for this stack and whether its services run. GETs only. */
export async function observeComposeStack(
  client: PortainerClient,
  spec: StackSpec,
): Promise<StackObservation> {
  checkStackSpec(spec);
  const stack = await findStack(client, spec.name, spec.endpointId);
  if (stack === undefined) return { stack, file: undefined, contentMatches: false, services: [] };
  const file = await readStackFile(client, stack.Id);
  const names = await composeServices(file).catch(() => [] as string[]);
  const services = serviceStates(names, await listProjectContainers(client, spec.endpointId, spec.name));
  return { stack, file, contentMatches: file === spec.compose && envEqual(stack.Env, spec.env), services };
}

export { StackDeployError } from './stack-deploy.js';
export type { DeployAction } from './stack-deploy.js';
export type DeployResult<S = ServiceState> = GenericDeployResult<S>;

/**
 * Converge one compose stack: find it by name; if its stored file and environment equal the wanted ones, do
 * nothing; else create or update it. Then prove it: read the file back (must equal what was sent) and check
 * every service of the file has a running container. Throws StackDeployError / PortainerVerifyError.
 */
export async function deployComposeStack(
  client: PortainerClient,
  spec: StackSpec,
  options: UpdateOptions = {},
): Promise<DeployResult> {
  checkStackSpec(spec);
  return convergeStack(spec.name, {
    observe: () => observeComposeStack(client, spec),
    create: () => createComposeStack(client, spec),
    update: (stack) => updateStack(client, stack.Id, spec.endpointId, spec, options),
    verify: (stack) => verifyComposeStack(client, spec, stack),
    aftermath: async () => {
      const after = await observeComposeStack(client, spec);
      return {
        notRunning: after.services.filter((s) => !s.running).map((s) => s.service),
        newFileStored: after.stack ? after.file === spec.compose : undefined,
      };
    },
  });
}

/** Read back the stored file and check the services run. */
export async function verifyComposeStack(
  client: PortainerClient,
  spec: StackSpec,
  stack: PortainerStack,
): Promise<ServiceState[]> {
  const file = await readStackFile(client, stack.Id);
  if (file !== spec.compose) {
    throw new PortainerVerifyError(
      `stack ${spec.name} (id ${stack.Id}): the file Portainer stored differs from the one sent`,
    );
  }
  const services = serviceStates(
    await composeServices(spec.compose),
    await listProjectContainers(client, spec.endpointId, spec.name),
  );
  const down = services.filter((s) => !s.running);
  if (down.length > 0) {
    throw new PortainerVerifyError(
      `stack ${spec.name} (id ${stack.Id}) is deployed but not running: ${down
        .map((s) =>
          s.containers.length === 0
            ? `${s.service} (no container)`
            : `${s.service} (${s.containers.map((c) => `${c.name} ${c.state}`).join(', ')})`,
        )
        .join('; ')}`,
    );
  }
  return services;
}

/** Whether a stack was created for swarm (type 1). */
export function isSwarmStack(stack: PortainerStack): boolean {
  return stack.Type === STACK_TYPE.swarm;
}
