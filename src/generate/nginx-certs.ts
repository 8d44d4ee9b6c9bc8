import type { Inventory } from '../model/inventory.js';
import type { CertPaths } from './nginx.js';
import { byString, gatewayGuest, nameCovers } from './topology.js';

/**
 * The certificates the inventory installs on the gateway guest, as a `certPaths` function for
 * nginxGatewayConfig: an exact name beats a wildcard, then the first certificate by name wins. The paths
 * are the install targets inside the gateway; whether the files exist yet is the caller's question
 * (the bootstrap passes `tls: 'none'` until they do).
 */
export function gatewayCertPaths(inv: Inventory): (hostname: string) => CertPaths | undefined {
  const gw = gatewayGuest(inv);
  const candidates = inv.certificates
    .filter((c) => c.usage === 'server')
    .sort((a, b) => byString(a.name, b.name))
    .flatMap((c) =>
      c.install
        .filter((t) => gw !== undefined && t.guest === gw.id)
        .map((t) => ({ names: c.dnsNames, paths: { cert: t.cert.location.path, key: t.key.location.path } })),
    );
  return (hostname) => {
    const exact = candidates.find((c) => c.names.some((n) => n.toLowerCase() === hostname.toLowerCase()));
    return (exact ?? candidates.find((c) => c.names.some((n) => nameCovers(n, hostname))))?.paths;
  };
}
