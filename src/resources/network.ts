import { dnsmasqConfig } from '../generate/dnsmasq.js';
import { clusterFirewall, guestFirewall } from '../generate/firewall.js';
import { nginxGatewayConfig } from '../generate/nginx.js';
import { gatewayCertPaths } from '../generate/nginx-certs.js';
import { traefikDynamicConfig } from '../generate/traefik.js';
import { trustAnchorFile } from '../generate/trust.js';
import { ACME_WEBROOT, MANAGED_PATHS } from '../graph/paths.js';
import type { ResourceNode } from '../graph/types.js';
import type { GuestId, GuestRef } from '../model/inventory.js';
import { configFileHandler, run, text } from './config-file.js';
import type { ManagedFile } from './file.js';
import { verifyDnsAnswers, verifyFirewallFile, verifyMesh } from './network-verify.js';
import { proveServed } from './served-proof.js';

const ROOT_644 = { owner: 'root', group: 'root', mode: 0o644 } as const;

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
  verifyLive: (ctx) => verifyDnsAnswers(ctx),
});

export const firewallHandler = configFileHandler({
  kind: 'firewall',
  file(ctx, node) {
    const guest = guestOfSpec(node);
    if (guest === 'host')
      return fixed('host', MANAGED_PATHS.clusterFirewall, () => clusterFirewall(ctx.inventory));
    return fixed('host', MANAGED_PATHS.guestFirewall(guest), () => guestFirewall(ctx.inventory, guest) ?? '');
  },
  // No activate: pve-firewall reads /etc/pve/firewall itself every 10 s and applies a ruleset only when it
  // compiles to something new (`pve-firewall compile` only prints); see docs/network.md.
  verifyLive: (ctx, node) => verifyFirewallFile(ctx, guestOfSpec(node)),
});

function gatewayPart(node: ResourceNode): 'http' | 'tls' {
  if (node.spec.kind !== 'gateway') throw new Error(`${node.id} is not a gateway`);
  return node.spec.part;
}

/**
 * Two files, two nodes: port 80 (ACME http-01 and the redirect) needs no certificate and comes first; the
 * TLS servers come once their certificate files are installed, and count as done when nginx serves them.
 */
export const gatewayHandler = configFileHandler({
  kind: 'gateway',
  file(ctx, node) {
    const guest = guestOfSpec(node) as GuestId;
    const part = gatewayPart(node);
    const path = part === 'http' ? MANAGED_PATHS.nginxHttp : MANAGED_PATHS.nginxSite;
    return fixed(guest, path, () =>
      nginxGatewayConfig(ctx.inventory, {
        part,
        webroot: ACME_WEBROOT,
        certPaths: gatewayCertPaths(ctx.inventory),
      }),
    );
  },
  check: (ctx, node) => run(ctx, guestOfSpec(node), ['nginx', '-t']),
  async activate(ctx, node) {
    await run(ctx, guestOfSpec(node), ['systemctl', 'reload', 'nginx']);
    if (gatewayPart(node) === 'tls') await proveServed(ctx, guestOfSpec(node));
  },
  async verifyLive(ctx, node) {
    if (gatewayPart(node) === 'tls') await proveServed(ctx, guestOfSpec(node));
  },
});

export const meshHandler = configFileHandler({
  kind: 'mesh',
  // Traefik's file provider watches the file: writing it is the reload. Starting the unit (a no-op when it
  // runs) makes sure something reads it.
  file: (ctx, node) =>
    fixed(guestOfSpec(node), MANAGED_PATHS.traefikDynamic, () => traefikDynamicConfig(ctx.inventory)),
  activate: (ctx, node) => run(ctx, guestOfSpec(node), ['systemctl', 'start', 'traefik']),
  verifyLive: (ctx, node) => verifyMesh(ctx, node),
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
