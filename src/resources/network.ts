import { dnsmasqConfig } from '../generate/dnsmasq.js';
import { clusterFirewall, guestFirewall } from '../generate/firewall.js';
import { nginxGatewayConfig } from '../generate/nginx.js';
import { gatewayCertPaths } from '../generate/nginx-certs.js';
import { traefikDynamicConfig } from '../generate/traefik.js';
import { trustAnchorFile } from '../generate/trust.js';
import { MANAGED_PATHS } from '../graph/paths.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestId, GuestRef } from '../model/inventory.js';
import { configFileHandler, run, text } from './config-file.js';
import type { ManagedFile } from './file.js';

const ROOT_644 = { owner: 'root', group: 'root', mode: 0o644 } as const;
/** Where the gateway serves ACME http-01 challenges from. */
export const ACME_WEBROOT = '/var/www/phoenix-acme';

function fixed(target: GuestRef, path: string, render: () => string): ManagedFile {
  return { target, path, attrs: ROOT_644, content: async () => text(render()) };
}

function guestOfSpec(node: ResourceNode): GuestRef {
  const s = node.spec;
  if (!('guest' in s) || typeof s.guest === 'object') throw new Error(`${node.id} has no target guest`);
  return s.guest;
}

export const dnsHandler = configFileHandler({
  kind: 'dns',
  file: (ctx) => fixed('host', MANAGED_PATHS.dnsmasq, () => dnsmasqConfig(ctx.inventory)),
  // dnsmasq re-reads hosts files on SIGHUP but its configuration only on restart.
  activate: (ctx) => run(ctx, 'host', ['systemctl', 'restart', 'dnsmasq']),
});

export const firewallHandler = configFileHandler({
  kind: 'firewall',
  file(ctx, node) {
    const guest = guestOfSpec(node);
    if (guest === 'host')
      return fixed('host', MANAGED_PATHS.clusterFirewall, () => clusterFirewall(ctx.inventory));
    return fixed('host', MANAGED_PATHS.guestFirewall(guest), () => guestFirewall(ctx.inventory, guest) ?? '');
  },
});

export const gatewayHandler = configFileHandler({
  kind: 'gateway',
  file(ctx, node) {
    const guest = guestOfSpec(node) as GuestId;
    return fixed(guest, MANAGED_PATHS.nginxSite, () =>
      nginxGatewayConfig(ctx.inventory, {
        tls: 'full',
        webroot: ACME_WEBROOT,
        certPaths: gatewayCertPaths(ctx.inventory),
      }),
    );
  },
  check: (ctx, node) => run(ctx, guestOfSpec(node), ['nginx', '-t']),
  activate: (ctx, node) => run(ctx, guestOfSpec(node), ['systemctl', 'reload', 'nginx']),
});

export const meshHandler = configFileHandler({
  kind: 'mesh',
  // Traefik's file provider watches the file: writing it is the reload.
  file: (ctx, node) =>
    fixed(guestOfSpec(node), MANAGED_PATHS.traefikDynamic, () => traefikDynamicConfig(ctx.inventory)),
});

export const trustHandler = configFileHandler({
  kind: 'trust',
  file(ctx, node) {
    const guest = guestOfSpec(node);
    return {
      target: guest,
      path: MANAGED_PATHS.trustAnchor,
      attrs: ROOT_644,
      async content(c) {
        const names = [...new Set(c.inventory.certificates.map((x) => x.issuer))]
          .filter((n) => c.inventory.issuers.has(n))
          .sort();
        const roots = await Promise.all(names.map((n) => c.drivers.issuer(n).roots()));
        return text(trustAnchorFile(roots.join('\n')));
      },
    };
  },
  activate: (ctx, node) => run(ctx, guestOfSpec(node), ['update-ca-certificates']),
});
