import { meshRoutes } from '../../generate/routes.js';
import { byString, gatewayGuest, meshGuest } from '../../generate/topology.js';
import { at, guestLabel, type RuleContext } from './context.js';

/**
 * The gateway forwards the names routed through it to the Traefik mesh (its TLS servers proxy to the mesh
 * guest's address, docs/network.md). Names routed to the mesh while no guest with feature "traefik" has a
 * static address have nowhere to go, and the gateway's configuration cannot be generated. Reported here,
 * at the gateway, instead of failing the gateway's resource in the middle of a sync.
 */
export function checkGatewayMesh({ inv, diags }: RuleContext): void {
  const gw = gatewayGuest(inv);
  if (!gw || meshGuest(inv)) return;
  // The names routed to the mesh (guests' traefik_service, stacks' Host() labels): routes.ts's one table.
  const routed = meshRoutes(inv).routes.map((r) => r.hostname);
  if (routed.length === 0) return;
  const unaddressed = [...inv.guests.values()]
    .filter((g) => !g.isTemplate && g.features.includes('traefik'))
    .sort((a, b) => a.id - b.id);
  const why = unaddressed.length
    ? `${unaddressed.map(guestLabel).join(', ')} ${unaddressed.length === 1 ? 'has' : 'have'} feature "traefik" but no static address`
    : 'no guest has feature "traefik"';
  const shown = [...routed].sort(byString);
  diags.error(
    at(gw.origin, 'features'),
    'network.no-mesh',
    `${guestLabel(gw)} is the gateway and routes ${shown.slice(0, 4).join(', ')}${shown.length > 4 ? ` and ${shown.length - 4} more` : ''} to the Traefik mesh, but ${why}; ` +
      'its TLS servers would have nowhere to forward. Give a guest the feature "traefik" and a static address, or remove the routes.',
  );
}
