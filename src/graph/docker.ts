import type { StackPlacement } from '../drivers/portainer/driver.js';
import type { FileSpec, GuestId, GuestRef, Inventory, Stack } from '../model/inventory.js';
import {
  LOCAL_ENVIRONMENT,
  portainerTopology,
  stackRoute,
  type PortainerTopology,
} from '../model/portainer.js';
import { ids, type Add, type Draft } from './build.js';

/**
 * The Docker side of the graph, in the order things must exist (the analysis's second failure was the
 * server's compose project needing a volume a later step made):
 *
 *   guest → volume (direct) → stack (the server's project, direct) → portainer (answers) → portainer-admin
 *   guest → portainer-agent (direct) ─┐
 *   portainer-admin ──────────────────┴→ portainer-env → volume (through Portainer) → stack (through Portainer)
 *
 * A restart of a container of the server's project (certificate renewed) comes before `portainer`, so the
 * server is proven to answer again. Without a Portainer primary every stack stays direct, as before.
 */
export function addDockerSide(
  inv: Inventory,
  add: Add,
  nodes: ReadonlyMap<string, Draft>,
  filesByGuest: ReadonlyMap<GuestRef, Draft[]>,
): void {
  const topology = portainerTopology(inv);
  if (topology) addPortainer(topology, add, nodes, usesLocalEnvironment(inv, topology));
  for (const g of inv.guests.values()) {
    if (g.kind !== 'vm') continue;
    for (const dep of g.stacks) {
      const stack = inv.stacks.get(dep.stack);
      const route = stackRoute(topology, g.id, dep.stack);
      if (!stack || !route) continue; // reported by validation (unknown stack, no environment)
      const placement = placementOf(stack);
      const reach = route.via === 'portainer' ? [ids.portainerEnv(route.environment)] : [ids.guest(g.id)];
      const volumeIds = stack.volumes.map((v) => {
        const node = add(
          {
            id: ids.volume(g.id, v.name),
            kind: 'volume',
            label: `volume ${v.name} on ${g.id} (${v.driver})`,
            origin: v.origin,
            spec: { kind: 'volume', guest: g.id, volume: v, stacks: [], route, ...withPlacement(placement) },
          },
          reach,
        );
        if (node.spec.kind === 'volume') (node.spec.stacks as string[]).push(stack.name);
        return node.id;
      });
      const isServer = topology?.server.guest === g.id && topology.server.stack === stack.name;
      add(
        {
          id: ids.stack(g.id, stack.name),
          kind: 'stack',
          label: `stack ${stack.name} on ${g.id}${route.via === 'portainer' ? ` (Portainer ${route.environment})` : ''}`,
          origin: dep.origin,
          spec: {
            kind: 'stack',
            guest: g.id,
            stack,
            environment: dep.environment,
            route,
            ...withPlacement(placement),
            ...(isServer && topology.agents.length > 0 && topology.server.service
              ? { agentSecretService: topology.server.service }
              : {}),
          },
        },
        [
          ...reach,
          ...volumeIds,
          ...filesUnderBindMounts(g.id, stack, filesByGuest),
          ...stack.requires.map((r) => r.id),
        ],
      );
    }
  }
}

function usesLocalEnvironment(inv: Inventory, t: PortainerTopology): boolean {
  const primary = inv.guests.get(t.server.guest);
  return primary?.kind === 'vm' && primary.stacks.some((dep) => dep.stack !== t.server.stack);
}

function addPortainer(
  t: PortainerTopology,
  add: Add,
  nodes: ReadonlyMap<string, Draft>,
  withLocal: boolean,
): void {
  const { server } = t;
  const serverStack = server.stack === undefined ? [] : [ids.stack(server.guest, server.stack)];
  const restarts = [...nodes.values()]
    .filter(
      (n) => n.spec.kind === 'restart' && n.spec.guest === server.guest && n.spec.stack === server.stack,
    )
    .map((n) => n.id);
  add(
    {
      id: ids.portainer(server.guest),
      kind: 'portainer-server',
      label: `Portainer server on ${server.guest} answers`,
      origin: server.origin,
      spec: { kind: 'portainer-server', server },
    },
    [ids.guest(server.guest), ...serverStack, ...restarts],
  );
  add(
    {
      id: ids.portainerAdmin(server.guest),
      kind: 'portainer-admin',
      label: `Portainer administrator ${t.adminUser}`,
      origin: server.origin,
      spec: { kind: 'portainer-admin', server, user: t.adminUser },
    },
    [ids.portainer(server.guest)],
  );
  if (withLocal) {
    add(
      {
        id: ids.portainerEnv(LOCAL_ENVIRONMENT),
        kind: 'portainer-environment',
        label: `Portainer environment ${LOCAL_ENVIRONMENT} (local Docker of ${server.guest})`,
        origin: server.origin,
        spec: { kind: 'portainer-environment', name: LOCAL_ENVIRONMENT, guest: server.guest },
      },
      [ids.portainerAdmin(server.guest)],
    );
  }
  for (const agent of t.agents) {
    add(
      {
        id: ids.portainerAgent(agent.guest),
        kind: 'portainer-agent',
        label: `Portainer agent on ${agent.guest}`,
        origin: agent.origin,
        spec: { kind: 'portainer-agent', agent },
      },
      [ids.guest(agent.guest)],
    );
    add(
      {
        id: ids.portainerEnv(agent.environment),
        kind: 'portainer-environment',
        label: `Portainer environment ${agent.environment} (agent on ${agent.guest})`,
        origin: agent.origin,
        spec: { kind: 'portainer-environment', name: agent.environment, guest: agent.guest, agent },
      },
      [ids.portainerAdmin(server.guest), ids.portainerAgent(agent.guest)],
    );
  }
}

function placementOf(stack: Stack): StackPlacement | undefined {
  const deploy = stack.config.deploy;
  if (!deploy || deploy.mode === 'compose') return undefined;
  return { mode: 'swarm', constraints: deploy.placement ?? [] };
}

const withPlacement = (p: StackPlacement | undefined) => (p ? { placement: p } : {});

/** A container that bind-mounts a directory needs the files Phoenix installs there before it starts. */
function filesUnderBindMounts(
  guest: GuestId,
  stack: Stack,
  filesByGuest: ReadonlyMap<GuestRef, Draft[]>,
): string[] {
  const sources = stack.compose.services
    .flatMap((s) => s.bindMounts)
    .map((p) => (p.endsWith('/') ? p : p + '/'));
  if (sources.length === 0) return [];
  return (filesByGuest.get(guest) ?? [])
    .filter(
      (node) =>
        node.spec.kind === 'file' &&
        sources.some((src) => (node.spec as { file: FileSpec }).file.location.path.startsWith(src)),
    )
    .map((node) => node.id);
}
