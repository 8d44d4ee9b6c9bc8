import type { Stack } from '../model/inventory.js';

/**
 * Reads a stack's Traefik labels (compose `labels:` first, then the environment's `traefik_labels`, which
 * win) into plain router claims. Only what the file provider needs is read: the Host() rule, the service,
 * and the backend's port, scheme and health path. `entrypoints`, `tls` and `certresolver` labels are
 * ignored on purpose: the gateway terminates TLS and the mesh receives every route on its `web` entrypoint.
 */

export interface LabelRouter {
  readonly router: string;
  readonly hostnames: readonly string[];
  readonly port: number;
  readonly scheme?: 'http' | 'https';
  readonly healthPath?: string;
}

export interface LabelProblem {
  readonly router: string;
  readonly reason: string;
}

export function stackRouters(
  stack: Stack,
  environment: string,
): { routers: LabelRouter[]; problems: LabelProblem[] } {
  const routers: LabelRouter[] = [];
  const problems: LabelProblem[] = [];
  const envServices = stack.config.environments[environment]?.services ?? {};
  const names = new Set([...stack.compose.services.map((s) => s.name), ...Object.keys(envServices)]);
  for (const service of [...names].sort()) {
    const labels = new Map<string, string>();
    const compose = stack.compose.services.find((s) => s.name === service)?.labels ?? [];
    for (const l of [...compose, ...(envServices[service]?.traefik_labels ?? [])]) {
      const eq = l.indexOf('=');
      if (eq > 0) labels.set(l.slice(0, eq).trim().toLowerCase(), l.slice(eq + 1).trim());
    }
    if (labels.get('traefik.enable') === 'false') continue;
    readService(labels, routers, problems);
  }
  return { routers, problems };
}

const ROUTER_RULE = /^traefik\.http\.routers\.([^.]+)\.rule$/;
const SERVICE_KEY =
  /^traefik\.http\.services\.([^.]+)\.loadbalancer\.(server\.port|server\.scheme|healthcheck\.path)$/;

function readService(
  labels: ReadonlyMap<string, string>,
  routers: LabelRouter[],
  problems: LabelProblem[],
): void {
  const services = new Map<string, { port?: string; scheme?: string; health?: string }>();
  for (const [key, value] of labels) {
    const m = SERVICE_KEY.exec(key);
    if (!m) continue;
    const s = services.get(m[1]!) ?? services.set(m[1]!, {}).get(m[1]!)!;
    if (m[2] === 'server.port') s.port = value;
    else if (m[2] === 'server.scheme') s.scheme = value;
    else s.health = value;
  }
  for (const [key, rule] of labels) {
    const router = ROUTER_RULE.exec(key)?.[1];
    if (!router) continue;
    const hostnames = hostsOfRule(rule);
    if (!hostnames) {
      problems.push({
        router,
        reason: `rule ${JSON.stringify(rule)} is not a plain Host(...) rule; only Host() rules are routed`,
      });
      continue;
    }
    // Traefik's own defaulting: an explicit service label, else the only service declared, else the router's name.
    const serviceName =
      labels.get(`traefik.http.routers.${router}.service`) ??
      (services.size === 1 ? [...services.keys()][0]! : router);
    const svc = services.get(serviceName);
    const port = Number(svc?.port);
    if (!svc?.port || !Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push({
        router,
        reason: `service "${serviceName}" has no valid loadbalancer.server.port label, so the backend port is unknown`,
      });
      continue;
    }
    const scheme = svc.scheme === 'https' || svc.scheme === 'http' ? svc.scheme : undefined;
    routers.push({
      router,
      hostnames,
      port,
      scheme,
      healthPath: svc.health?.startsWith('/') ? svc.health : undefined,
    });
  }
}

/** `Host(\`a\`)`, `Host(\`a\`, \`b\`)` and `Host(\`a\`) || Host(\`b\`)`; anything else (paths, regexps) is refused. */
export function hostsOfRule(rule: string): string[] | undefined {
  const hosts: string[] = [];
  for (const part of rule.split('||')) {
    const m = /^\s*Host\(\s*((?:`[^`]+`\s*,\s*)*`[^`]+`)\s*\)\s*$/.exec(part);
    if (!m) return undefined;
    for (const h of m[1]!.matchAll(/`([^`]+)`/g)) hosts.push(h[1]!.toLowerCase());
  }
  return hosts;
}
