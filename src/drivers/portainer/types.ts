/**
 * The parts of Portainer's and Docker's JSON that Phoenix reads, with the field names the documentation
 * gives (Portainer: `api/portainer.go` json tags, e.g. `Id`, `EndpointId`, `SwarmId`; Docker Engine API:
 * `Volume`, `ContainerSummary`, `Swarm`). Everything else in an answer is ignored.
 */

/** portainer.Pair: `{name, value}`, the stack environment. */
export interface EnvPair {
  readonly name: string;
  readonly value: string;
}

/** Environment (endpoint) types (portainer.EndpointType). */
export const ENDPOINT_TYPE = {
  docker: 1,
  agentOnDocker: 2,
  azure: 3,
  edgeAgentOnDocker: 4,
  kubernetesLocal: 5,
  agentOnKubernetes: 6,
  edgeAgentOnKubernetes: 7,
} as const;

export interface PortainerEnvironment {
  readonly Id: number;
  readonly Name: string;
  readonly Type: number;
  readonly URL: string;
  readonly GroupId?: number;
  readonly Status?: number;
  readonly TLSConfig?: { readonly TLS?: boolean; readonly TLSSkipVerify?: boolean };
}

/** portainer.StackType. */
export const STACK_TYPE = { swarm: 1, compose: 2, kubernetes: 3 } as const;
/** portainer.StackStatus. */
export const STACK_STATUS = { active: 1, inactive: 2 } as const;

export interface PortainerStack {
  readonly Id: number;
  readonly Name: string;
  readonly Type: number;
  readonly EndpointId: number;
  readonly SwarmId?: string;
  readonly EntryPoint?: string;
  readonly Env?: EnvPair[] | null;
  readonly Status?: number;
}

/** Docker Engine API `Volume`. */
export interface DockerVolume {
  readonly Name: string;
  readonly Driver: string;
  readonly Options?: Record<string, string> | null;
  readonly Labels?: Record<string, string> | null;
  readonly Scope?: string;
}

/** Docker Engine API `ContainerSummary` (GET /containers/json). */
export interface DockerContainerSummary {
  readonly Id: string;
  readonly Names: string[];
  readonly State: string;
  readonly Status?: string;
  readonly Labels?: Record<string, string> | null;
}

/** Docker Engine API `Swarm` (GET /swarm): only its ID matters here. */
export interface DockerSwarm {
  readonly ID: string;
}
