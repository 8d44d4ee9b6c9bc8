import type { VolumeSpec } from '../containers/types.js';
import type { PortainerClient } from './client.js';
import { dockerPath } from './docker.js';
import { PortainerApiError, PortainerVerifyError } from './errors.js';
import type { SwarmNode } from './swarm-placement.js';
import type { DockerVolume } from './types.js';
import { volumeDrift, volumeRequest } from './volumes.js';

/**
 * Docker volumes on the nodes of a swarm. A local or NFS volume exists on one node only, and a swarm may
 * schedule a task on any node its constraints allow, so a stack's volume must exist on every eligible node.
 * Portainer's agent runs a proxied Docker call on the node named by `X-PortainerAgent-Target` (Portainer
 * agent documentation); the create body and the drift check are those of a single host (volumes.ts).
 */

export const AGENT_TARGET_HEADER = 'X-PortainerAgent-Target';

function onNode(node: SwarmNode): Record<string, string> {
  return { [AGENT_TARGET_HEADER]: node.hostname };
}

/** The agent tells nodes apart by hostname only: an empty or shared one would send calls to the wrong node. */
function checkTargets(nodes: readonly SwarmNode[]): void {
  const seen = new Set<string>();
  for (const node of nodes) {
    if (node.hostname === '') throw new Error(`swarm node ${node.id} has no hostname to target`);
    if (seen.has(node.hostname)) {
      throw new Error(`two swarm nodes are named ${node.hostname}: the agent cannot target one of them`);
    }
    seen.add(node.hostname);
  }
}

async function volumesOn(
  client: PortainerClient,
  endpointId: number,
  node: SwarmNode,
  name?: string,
): Promise<DockerVolume[]> {
  const answer = await client.json<{ Volumes?: DockerVolume[] | null }>(
    'GET',
    dockerPath(endpointId, '/volumes'),
    {
      headers: onNode(node),
      ...(name !== undefined ? { query: { filters: JSON.stringify({ name: [name] }) } } : {}),
    },
  );
  // Docker's name filter matches substrings: keep the exact name only.
  return (answer.Volumes ?? []).filter((v) => name === undefined || v.Name === name);
}

export interface NodeVolumes {
  readonly node: SwarmNode;
  readonly volumes: readonly DockerVolume[];
}

export async function listVolumesOnNodes(
  client: PortainerClient,
  endpointId: number,
  nodes: readonly SwarmNode[],
): Promise<NodeVolumes[]> {
  checkTargets(nodes);
  const result: NodeVolumes[] = [];
  for (const node of nodes) result.push({ node, volumes: await volumesOn(client, endpointId, node) });
  return result;
}

export interface NodeVolumeResult {
  readonly hostname: string;
  readonly volume: DockerVolume;
  readonly created: boolean;
}

/**
 * Create the volume on each given node that lacks it (pass `eligibleNodes(...)`), then read every node back:
 * a node where it is still missing or exists with other settings is named in a PortainerVerifyError. An
 * existing volume is never removed or replaced (data lives in it).
 */
export async function ensureVolumeOnNodes(
  client: PortainerClient,
  endpointId: number,
  spec: VolumeSpec,
  nodes: readonly SwarmNode[],
): Promise<NodeVolumeResult[]> {
  const request = volumeRequest(spec); // validates before any call
  if (nodes.length === 0) throw new Error(`volume ${spec.name}: no eligible swarm node to create it on`);
  checkTargets(nodes);
  const created = new Set<string>();
  for (const node of nodes) {
    if ((await volumesOn(client, endpointId, node, spec.name)).length > 0) continue;
    try {
      await client.call('POST', dockerPath(endpointId, '/volumes/create'), {
        json: request,
        headers: onNode(node),
        expect: [201, 200],
      });
      created.add(node.hostname);
    } catch (err) {
      // 409: the name exists with another driver; the read-back below reports it with the other drifts.
      if (!(err instanceof PortainerApiError && err.status === 409)) throw err;
    }
  }
  const results: NodeVolumeResult[] = [];
  const problems: string[] = [];
  for (const node of nodes) {
    const found = (await volumesOn(client, endpointId, node, spec.name))[0];
    const drift = found === undefined ? ['missing'] : volumeDrift(found, spec);
    if (found !== undefined && drift.length === 0) {
      results.push({ hostname: node.hostname, volume: found, created: created.has(node.hostname) });
    } else problems.push(`${node.hostname}: ${drift.join(', ')}`);
  }
  if (problems.length > 0) {
    throw new PortainerVerifyError(
      `volume ${spec.name} on environment ${endpointId} is not as declared on every eligible node ` +
        `(${problems.join('; ')}); Phoenix does not remove volumes — move the data and remove it by hand, ` +
        `or change the configuration`,
    );
  }
  return results;
}
