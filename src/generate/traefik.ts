import YAML from 'yaml';
import { MANAGED_PATHS } from '../graph/paths.js';
import type { Inventory } from '../model/inventory.js';
import { meshRoutes, type Route } from './routes.js';
import { generatedHeader } from './topology.js';
import { validateTraefikDynamic, type TraefikDynamic } from './traefik-schema.js';

/**
 * The mesh's dynamic configuration (file provider). One router per routed name on the `web` entrypoint
 * (the gateway terminates TLS and forwards plain HTTP), one service per router. Each backend keeps its own
 * scheme: a TLS backend such as Portainer on 9443 is reached over https and verified against the internal
 * CA root through a serversTransport whose serverName is the routed name (the name its certificate is for).
 */

export interface TraefikOptions {
  /** The internal CA root bundle inside the mesh guest (the trust anchor Phoenix installs there). */
  readonly rootCaPath?: string;
  readonly healthCheck?: { readonly interval: string; readonly timeout: string };
}

const DEFAULT_HEALTH = { interval: '30s', timeout: '5s' };

export function traefikDynamicObject(inv: Inventory, opts: TraefikOptions = {}): TraefikDynamic {
  const rootCa = opts.rootCaPath ?? MANAGED_PATHS.trustAnchor;
  const health = opts.healthCheck ?? DEFAULT_HEALTH;
  const routers: TraefikDynamic['http']['routers'] = {};
  const services: TraefikDynamic['http']['services'] = {};
  const transports: NonNullable<TraefikDynamic['http']['serversTransports']> = {};
  for (const route of meshRoutes(inv).routes) {
    routers[route.name] = { rule: `Host(\`${route.hostname}\`)`, service: route.name, entryPoints: ['web'] };
    const tls = route.backends.some((b) => b.scheme === 'https');
    services[route.name] = {
      loadBalancer: {
        servers: route.backends.map((b) => ({ url: `${b.scheme}://${b.address}:${b.port}` })),
        ...(tls ? { serversTransport: transportName(route) } : {}),
        ...(route.healthPath ? { healthCheck: { path: route.healthPath, ...health } } : {}),
      },
    };
    if (tls) transports[transportName(route)] = { serverName: route.hostname, rootCAs: [rootCa] };
  }
  const http: TraefikDynamic['http'] = { routers, services };
  if (Object.keys(transports).length > 0) http.serversTransports = transports;
  return { http };
}

const transportName = (route: Route) => `${route.name}-internal-ca`;

/** The YAML text, checked against the schema before it leaves: a generator bug fails here, not in Traefik's log. */
export function traefikDynamicConfig(inv: Inventory, opts: TraefikOptions = {}): string {
  const config = traefikDynamicObject(inv, opts);
  const checked = validateTraefikDynamic(config);
  if (!checked.ok)
    throw new Error(`generated Traefik configuration is invalid:\n  ${checked.issues.join('\n  ')}`);
  const doc = new YAML.Document(config);
  const problems = meshRoutes(inv).problems.map(
    (p) => `   ${p.claimant}${p.hostname ? ` (${p.hostname})` : ''}: ${p.reason}`,
  );
  doc.commentBefore = [
    generatedHeader(''),
    ' Routers for every routed name on the web entrypoint; TLS backends are verified against the internal CA.',
    ...(problems.length > 0 ? [' Declared but not routed:', ...problems] : []),
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
