import type { Origin } from '../config/diagnostics.js';
import type { Certificate, GuestId, Inventory, Stack, VmGuest } from './inventory.js';

/**
 * Who runs what on the Docker side, derived from the inventory: the Portainer server (the VM with
 * `portainer_role: "primary"` and the stack of its docker_stacks that runs a portainer/portainer-* image),
 * the agents (VMs with `portainer_role: "agent"`), and through which Docker each deployed stack goes:
 *
 * - `direct`: `docker compose` on the guest itself. Only what must exist before Portainer can: the server's
 *   own project (and its volumes). A configuration without a Portainer primary keeps every stack direct.
 * - `portainer`: through the Portainer API to the guest's environment: the agent's environment, or the
 *   server's own local environment (`primary`, which Portainer creates when started with `-H unix://…`).
 */

export const LOCAL_ENVIRONMENT = 'primary';
/** Docker's own names for the agent's and server's images, with any tag. */
const SERVER_IMAGE = /^(docker\.io\/)?portainer\/portainer-(ce|ee)(:[\w.-]+)?$/;

export interface PortainerServer {
  readonly guest: GuestId;
  /** The stack that runs the server; undefined when the primary declares none (reported by validation). */
  readonly stack: string | undefined;
  /** The container of that stack that runs the image (it gets AGENT_SECRET). */
  readonly service: string | undefined;
  readonly address: string;
  readonly port: number;
  /** The name on Portainer's certificate (TLS is verified against it, not against the address). */
  readonly hostname: string | undefined;
  readonly origin: Origin;
}

export interface PortainerAgent {
  readonly guest: GuestId;
  readonly environment: string;
  readonly address: string;
  readonly port: number;
  readonly image: string;
  readonly origin: Origin;
}

export interface PortainerTopology {
  readonly server: PortainerServer;
  readonly agents: readonly PortainerAgent[];
  readonly adminUser: string;
}

export type StackRoute =
  | { readonly via: 'direct' }
  | { readonly via: 'portainer'; readonly environment: string; readonly server: GuestId };

const vms = (inv: Inventory): VmGuest[] =>
  [...inv.guests.values()].filter((g): g is VmGuest => g.kind === 'vm' && !g.isTemplate);

/** The server's stack: the first stack of the primary with a service running Portainer's image. */
export function serverStackOf(
  primary: VmGuest,
  stacks: ReadonlyMap<string, Stack>,
): { stack: string; service: string } | undefined {
  for (const dep of primary.stacks) {
    const svc = stacks.get(dep.stack)?.compose.services.find((s) => SERVER_IMAGE.test(s.image ?? ''));
    if (svc) return { stack: dep.stack, service: svc.name };
  }
  return undefined;
}

export function portainerTopology(inv: Inventory): PortainerTopology | undefined {
  const primary = vms(inv).find((g) => g.config.portainer_role === 'primary');
  if (!primary) return undefined;
  const net = inv.hypervisor.network;
  const serverStack = serverStackOf(primary, inv.stacks);
  const agentImage = inv.hypervisor.docker?.portainer_agent_image ?? 'portainer/agent:latest';
  return {
    server: {
      guest: primary.id,
      stack: serverStack?.stack,
      service: serverStack?.service,
      address: primary.ip ?? net?.portainer_server_ip ?? '',
      port: net?.portainer_server_port ?? 9443,
      hostname: inv.hypervisor.portainer_api?.portainer_hostname,
      origin: primary.origin,
    },
    agents: vms(inv)
      .filter((g) => g.config.portainer_role === 'agent')
      .map((g) => ({
        guest: g.id,
        environment: g.config.portainer_environment_name ?? g.name.toLowerCase(),
        address: g.ip ?? '',
        port: net?.portainer_agent_port ?? 9001,
        image: agentImage,
        origin: g.origin,
      })),
    adminUser: inv.hypervisor.portainer_api?.admin_user ?? 'admin',
  };
}

/** How a stack deployed to `guest` reaches Docker; undefined: no way (validation reports it). */
export function stackRoute(
  topology: PortainerTopology | undefined,
  guest: GuestId,
  stack: string,
): StackRoute | undefined {
  if (!topology) return { via: 'direct' };
  const server = topology.server.guest;
  if (guest === server) {
    return stack === topology.server.stack
      ? { via: 'direct' }
      : { via: 'portainer', environment: LOCAL_ENVIRONMENT, server };
  }
  const agent = topology.agents.find((a) => a.guest === guest);
  return agent ? { via: 'portainer', environment: agent.environment, server } : undefined;
}

/**
 * The certificate Portainer serves: one naming its hostname that is installed on the server's VM (the
 * gateway's certificate may name it too, for the routed name).
 */
export function serverCertificate(inv: Inventory, server: PortainerServer): Certificate | undefined {
  const name = server.hostname ?? server.address;
  const naming = inv.certificates.filter((c) =>
    [c.commonName, ...c.dnsNames, ...c.ipAddresses].includes(name),
  );
  return naming.find((c) => c.install.some((t) => t.guest === server.guest)) ?? naming[0];
}
