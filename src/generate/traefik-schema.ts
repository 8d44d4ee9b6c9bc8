import { z } from 'zod';

/**
 * The part of Traefik's dynamic configuration (file provider, `http` section) that Phoenix writes, as
 * documented: routers (rule, service, entryPoints), services (loadBalancer with servers[].url,
 * serversTransport, passHostHeader, healthCheck) and serversTransports (serverName, rootCAs,
 * insecureSkipVerify). Strict objects: a misspelt key would be ignored by Traefik, so it fails here.
 */

const name = z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'must be a name without "@" or dots' });
const duration = z.string().regex(/^\d+(ms|s|m|h)$/, { error: 'must be a Go duration like 10s' });

const router = z.strictObject({
  rule: z.string().min(1),
  service: name,
  entryPoints: z.array(z.string().min(1)).min(1),
  priority: z.number().int().optional(),
  middlewares: z.array(z.string()).optional(),
});

const server = z.strictObject({ url: z.url({ protocol: /^https?$/ }) });

const healthCheck = z.strictObject({
  path: z.string().startsWith('/'),
  interval: duration.optional(),
  timeout: duration.optional(),
  scheme: z.enum(['http', 'https']).optional(),
  hostname: z.string().optional(),
});

const service = z.strictObject({
  loadBalancer: z.strictObject({
    servers: z.array(server).min(1),
    passHostHeader: z.boolean().optional(),
    serversTransport: name.optional(),
    healthCheck: healthCheck.optional(),
  }),
});

const serversTransport = z.strictObject({
  serverName: z.string().optional(),
  rootCAs: z.array(z.string().startsWith('/')).min(1).optional(),
  insecureSkipVerify: z.boolean().optional(),
});

export const traefikDynamicSchema = z.strictObject({
  http: z.strictObject({
    routers: z.record(name, router),
    services: z.record(name, service),
    serversTransports: z.record(name, serversTransport).optional(),
  }),
});
export type TraefikDynamic = z.infer<typeof traefikDynamicSchema>;

/**
 * Structure, then what Traefik only finds at run time (a router naming a missing service or transport),
 * then Phoenix's policy: an https backend is verified against the internal CA, never skipped.
 */
export function validateTraefikDynamic(
  value: unknown,
): { ok: true; config: TraefikDynamic } | { ok: false; issues: string[] } {
  const parsed = traefikDynamicSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    };
  }
  const { routers, services, serversTransports = {} } = parsed.data.http;
  const issues: string[] = [];
  for (const [n, r] of Object.entries(routers)) {
    if (!services[r.service]) issues.push(`http.routers.${n}.service: no service "${r.service}"`);
  }
  for (const [n, s] of Object.entries(services)) {
    const lb = s.loadBalancer;
    const transport = lb.serversTransport === undefined ? undefined : serversTransports[lb.serversTransport];
    if (lb.serversTransport !== undefined && !transport)
      issues.push(`http.services.${n}: no serversTransport "${lb.serversTransport}"`);
    if (lb.servers.some((x) => x.url.startsWith('https://')) && !transport?.rootCAs) {
      issues.push(
        `http.services.${n}: an https backend needs a serversTransport with rootCAs (the internal CA)`,
      );
    }
  }
  for (const [n, t] of Object.entries(serversTransports)) {
    if (t.insecureSkipVerify)
      issues.push(
        `http.serversTransports.${n}: insecureSkipVerify is not allowed; trust the internal CA instead`,
      );
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: parsed.data };
}
