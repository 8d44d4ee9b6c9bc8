import type { VmGuest } from '../../model/inventory.js';
import { LOCAL_ENVIRONMENT, portainerTopology, serverStackOf, stackRoute } from '../../model/portainer.js';
import { at, guestLabel, type RuleContext } from './context.js';

/**
 * The Docker side must be reachable the way the graph deploys it (model/portainer.ts): one Portainer
 * primary that runs the server's stack, agents and primary with static addresses, unique environment
 * names, every stack on a VM Portainer reaches, and swarm stacks only through Portainer.
 */
export function checkPortainer({ inv, raw, diags }: RuleContext): void {
  const vms = [...inv.guests.values()].filter((g): g is VmGuest => g.kind === 'vm' && !g.isTemplate);
  const primaries = vms.filter((g) => g.config.portainer_role === 'primary');
  for (const extra of primaries.slice(1)) {
    diags.error(
      at(extra.origin, 'portainer_role'),
      'portainer.two-primaries',
      `${guestLabel(extra)} and ${guestLabel(primaries[0]!)} are both Portainer's primary; one server manages every environment`,
    );
  }
  const topology = portainerTopology(inv);
  if (!topology) return;
  const primary = primaries[0]!;
  if (!serverStackOf(primary, inv.stacks)) {
    diags.error(
      at(primary.origin, 'docker_stacks'),
      'portainer.no-server',
      `${guestLabel(primary)} is Portainer's primary but none of its docker_stacks runs a portainer/portainer-ce or -ee image; add the server's stack (e.g. portainer_service)`,
    );
  }
  const addressed = (g: VmGuest) => g.ip !== undefined && g.ip !== 'dhcp';
  for (const g of vms.filter(
    (v) => v.config.portainer_role === 'primary' || v.config.portainer_role === 'agent',
  )) {
    if (!addressed(g)) {
      diags.error(
        at(g.origin, 'network_config'),
        'portainer.no-address',
        `${guestLabel(g)} is a Portainer ${g.config.portainer_role} and needs a static address (network_config.ip) for Portainer to reach it`,
      );
    }
  }
  const seen = new Map<string, VmGuest>();
  for (const agent of topology.agents) {
    const g = inv.guests.get(agent.guest) as VmGuest;
    const prior = seen.get(agent.environment);
    if (agent.environment === LOCAL_ENVIRONMENT || prior) {
      diags.error(
        at(g.origin, 'portainer_environment_name'),
        'portainer.environment-name',
        prior
          ? `${guestLabel(g)} and ${guestLabel(prior)} both register as Portainer environment "${agent.environment}"; environments are found by name`
          : `"${LOCAL_ENVIRONMENT}" is the name of Portainer's own local environment; give this agent another name`,
      );
    }
    seen.set(agent.environment, g);
  }
  for (const g of vms) {
    g.stacks.forEach((dep) => {
      const route = stackRoute(topology, g.id, dep.stack);
      if (!route) {
        diags.error(
          dep.origin,
          'portainer.no-environment',
          `${guestLabel(g)} deploys stack "${dep.stack}" but is neither Portainer's primary nor an agent; set its portainer_role to "agent"`,
        );
      } else if (route.via === 'direct' && inv.stacks.get(dep.stack)?.config.deploy?.mode === 'swarm') {
        diags.error(
          dep.origin,
          'portainer.swarm-direct',
          `stack "${dep.stack}" is a swarm stack, but it runs Portainer itself and is deployed on ${guestLabel(g)}'s Docker directly`,
        );
      }
    });
  }
  if (topology.agents.length > 0 && inv.hypervisor.portainer_api?.agent_secret === undefined) {
    diags.warning(
      { file: raw.hypervisor?.file ?? inv.configDir, pointer: '/portainer_api' },
      'portainer.agent-secret',
      'agents are declared but portainer_api.agent_secret is not: a sync on Proxmox will refuse to start agents without a shared secret (the lab makes its own)',
    );
  }
}
