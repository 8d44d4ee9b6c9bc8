import { gatewayCertPaths } from '../generate/nginx-certs.js';
import { gatewayNames } from '../generate/routes.js';
import { gatewayGuest } from '../generate/topology.js';
import type { GuestRef, Inventory } from '../model/inventory.js';

/** Where a live service must present a certificate: what `certs status` and the reload's proof check. */
export interface ServedEndpoint {
  readonly certificate: string;
  readonly guest: GuestRef;
  readonly port: number;
  readonly serverName: string;
}

export const GATEWAY_TLS_PORT = 443;

/**
 * The gateway's TLS servers, each with the certificate it is configured with: the same choice the nginx
 * generator makes (gatewayCertPaths), so the proof checks exactly what the configuration serves.
 */
export function servedEndpoints(inv: Inventory): ServedEndpoint[] {
  const gw = gatewayGuest(inv);
  if (!gw) return [];
  const pathsFor = gatewayCertPaths(inv);
  const byKeyPath = new Map<string, string>();
  for (const c of inv.certificates)
    for (const t of c.install) if (t.guest === gw.id) byKeyPath.set(t.key.location.path, c.name);
  const out: ServedEndpoint[] = [];
  for (const name of gatewayNames(inv)) {
    const paths = pathsFor(name);
    const certificate = paths && byKeyPath.get(paths.key);
    if (certificate) out.push({ certificate, guest: gw.id, port: GATEWAY_TLS_PORT, serverName: name });
  }
  return out;
}
