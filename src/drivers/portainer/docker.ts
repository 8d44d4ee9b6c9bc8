import type { PortainerClient } from './client.js';
import { PortainerApiError } from './errors.js';
import type { DockerContainerSummary, DockerSwarm } from './types.js';

/**
 * Docker Engine API calls through Portainer's proxy, `/api/endpoints/{id}/docker/<engine path>` (the same
 * paths and answers as the Engine API; errors are Docker's `{message}`).
 */

export function dockerPath(endpointId: number, enginePath: string): string {
  if (!Number.isInteger(endpointId) || endpointId < 1) throw new Error(`invalid endpoint id ${endpointId}`);
  return `/api/endpoints/${endpointId}/docker${enginePath}`;
}

/** `GET /containers/json?all=1&filters={"label":["com.docker.compose.project=NAME"]}`: every state. */
export async function listProjectContainers(
  client: PortainerClient,
  endpointId: number,
  project: string,
): Promise<DockerContainerSummary[]> {
  const list = await client.json<DockerContainerSummary[]>(
    'GET',
    dockerPath(endpointId, '/containers/json'),
    {
      query: { all: '1', filters: JSON.stringify({ label: [`com.docker.compose.project=${project}`] }) },
    },
  );
  if (!Array.isArray(list)) {
    throw new PortainerApiError(
      'unexpected',
      'GET',
      dockerPath(endpointId, '/containers/json'),
      200,
      'not a list',
      undefined,
    );
  }
  // The filter is the server's; check it again so a server that ignored it cannot mislead the verification.
  return list.filter((c) => c.Labels?.['com.docker.compose.project'] === project);
}

/**
 * The swarm's ID (`GET /swarm`), needed to create a swarm stack. Docker answers 503 "This node is not a swarm
 * manager..." on a node that is not a manager: that is returned as undefined.
 */
export async function getSwarmId(client: PortainerClient, endpointId: number): Promise<string | undefined> {
  try {
    const swarm = await client.json<DockerSwarm>('GET', dockerPath(endpointId, '/swarm'));
    return typeof swarm.ID === 'string' && swarm.ID !== '' ? swarm.ID : undefined;
  } catch (err) {
    if (err instanceof PortainerApiError && (err.status === 503 || err.status === 406)) return undefined;
    throw err;
  }
}
