import { DNS_NAME_RE } from '../config/schema/common.js';
import { isGateway } from '../graph/build.js';
import type { GuestId, Inventory } from '../model/inventory.js';
import { stackRouters } from './labels.js';
import { byString, gatewayGuest } from './topology.js';

/**
 * The routing table: which names the gateway forwards to the mesh and where the mesh sends them. DNS,
 * nginx and Traefik are all generated from this one table, so a name is routed everywhere or nowhere.
 */

export interface Backend {
  readonly guest: GuestId;
  readonly address: string;
  readonly port: number;
  readonly scheme: 'http' | 'https';
}

export interface Route {
  /** Router and service name in Traefik: the declared name, made unique. */
  readonly name: string;
  readonly hostname: string;
  readonly backends: readonly Backend[];
  readonly healthPath?: string;
  /** Who declared it: "guest 1001" or "stack qdrant_service". */
  readonly claimant: string;
}

/** A declared route that is not routed, and why (reported, never silently dropped). */
export interface RouteProblem {
  readonly claimant: string;
  readonly hostname?: string;
  readonly reason: string;
}

interface Claim {
  readonly name: string;
  readonly hostname: string;
  readonly backend: Backend;
  readonly healthPath?: string;
  readonly claimant: string;
}

/** Same defaulting as the model applies to traefik_service: TLS on the conventional TLS ports. */
const HTTPS_PORTS = new Set([443, 8443, 9443]);

export function meshRoutes(inv: Inventory): { routes: Route[]; problems: RouteProblem[] } {
  const problems: RouteProblem[] = [];
  const claims: Claim[] = [];
  const guests = [...inv.guests.values()].filter((g) => !g.isTemplate).sort((a, b) => a.id - b.id);
  for (const g of guests) {
    // The gateway's own routed name is the gateway itself; sending it to the mesh would loop back.
    if (g.routed && !isGateway(g)) {
      const { name, hostname, port, scheme, healthPath } = g.routed;
      if (g.ip === undefined) {
        problems.push({ claimant: `guest ${g.id}`, hostname, reason: 'the guest has no static address' });
        continue;
      }
      claims.push({
        name,
        hostname,
        backend: { guest: g.id, address: g.ip!, port, scheme },
        healthPath,
        claimant: `guest ${g.id}`,
      });
    }
  }
  for (const g of guests) {
    if (g.kind !== 'vm') continue;
    for (const dep of g.stacks) {
      const stack = inv.stacks.get(dep.stack);
      if (!stack) continue; // reported by validation
      const claimant = `stack ${stack.name}`;
      const { routers, problems: labelProblems } = stackRouters(stack, dep.environment);
      problems.push(...labelProblems.map((p) => ({ claimant, reason: `router "${p.router}": ${p.reason}` })));
      if (g.ip === undefined) {
        if (routers.length > 0)
          problems.push({
            claimant,
            reason: `VM ${g.id} has no static address, so its routers have no backend`,
          });
        continue;
      }
      for (const r of routers) {
        const scheme = r.scheme ?? (HTTPS_PORTS.has(r.port) ? 'https' : 'http');
        for (const hostname of r.hostnames) {
          claims.push({
            name: r.router,
            hostname,
            backend: { guest: g.id, address: g.ip!, port: r.port, scheme },
            healthPath: r.healthPath,
            claimant,
          });
        }
      }
    }
  }
  const routes = merge(claims, problems);
  // A stack deployed to several VMs reports the same label problem once.
  return { routes, problems: [...new Map(problems.map((p) => [JSON.stringify(p), p])).values()] };
}

/** One route per host name. A second claimant may only repeat the same backend; the same stack on several VMs load-balances. */
function merge(claims: readonly Claim[], problems: RouteProblem[]): Route[] {
  const byHost = new Map<
    string,
    { name: string; claimant: string; backends: Backend[]; healthPath?: string }
  >();
  for (const c of claims) {
    const hostname = c.hostname.toLowerCase();
    if (!DNS_NAME_RE.test(hostname) || hostname.startsWith('*.')) {
      problems.push({
        claimant: c.claimant,
        hostname,
        reason: 'not a plain DNS name; wildcards and invalid names are not routed',
      });
      continue;
    }
    const seen = byHost.get(hostname);
    if (!seen) {
      byHost.set(hostname, {
        name: c.name,
        claimant: c.claimant,
        backends: [c.backend],
        healthPath: c.healthPath,
      });
      continue;
    }
    const same = seen.backends.find((b) => sameBackend(b, c.backend));
    if (same) continue;
    if (
      seen.claimant === c.claimant &&
      seen.backends.every((b) => b.port === c.backend.port && b.scheme === c.backend.scheme)
    ) {
      seen.backends.push(c.backend);
      continue;
    }
    problems.push({
      claimant: c.claimant,
      hostname,
      reason: `${hostname} is already routed by ${seen.claimant} to ${describe(seen.backends[0]!)}; this claim (${describe(c.backend)}) is ignored`,
    });
  }
  const taken = new Set<string>();
  return [...byHost.entries()]
    .sort(([a], [b]) => byString(a, b))
    .map(([hostname, r]) => ({
      ...r,
      hostname,
      name: uniqueName(safeName(r.name), taken),
      backends: sortBackends(r.backends),
    }))
    .sort((a, b) => byString(a.name, b.name));
}

const sameBackend = (a: Backend, b: Backend) =>
  a.address === b.address && a.port === b.port && a.scheme === b.scheme;
const describe = (b: Backend) => `${b.scheme}://${b.address}:${b.port}`;
const sortBackends = (bs: Backend[]) => [...bs].sort((a, b) => a.guest - b.guest || a.port - b.port);

/** Traefik reserves "@" for provider namespaces; keep names to letters, digits, "-" and "_". */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '-') || 'route';
}

function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n++) candidate = `${name}-${n}`;
  taken.add(candidate);
  return candidate;
}

/**
 * Every name the gateway answers for: the mesh routes, the gateway guest's own routed name, and the server
 * certificates installed on the gateway (it serves those names, so they must resolve to it). Without a
 * gateway this is still the mesh routes, so callers can refuse to publish them rather than route around it.
 */
export function gatewayNames(inv: Inventory): string[] {
  const gw = gatewayGuest(inv);
  const names = new Set(meshRoutes(inv).routes.map((r) => r.hostname));
  if (gw?.routed) names.add(gw.routed.hostname.toLowerCase());
  for (const cert of inv.certificates) {
    if (!gw || cert.usage !== 'server' || !cert.install.some((t) => t.guest === gw.id)) continue;
    for (const n of cert.dnsNames) if (!n.startsWith('*.')) names.add(n.toLowerCase());
  }
  return [...names].sort(byString);
}
