import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';

/**
 * The lab's stand-in for Traefik (Traefik is not packaged for Debian). It follows Traefik's documented
 * behaviour for what Phoenix generates, nothing more:
 *   - the file provider: one dynamic configuration file, re-read when it changes (Traefik watches it); a
 *     file that does not parse is logged and the last good configuration stays in force;
 *   - routers on the `web` entrypoint (a router without `entryPoints` is on every entrypoint) whose rule
 *     is `Host(...)`, optionally several joined with `||`; the longest rule wins, as Traefik's default
 *     priority is the rule's length; anything else is logged and skipped, as Traefik skips a broken router;
 *   - loadBalancer services: round robin over `servers`; `http` upstreams, or `https` verified against the
 *     serversTransport's `rootCAs` with its `serverName` as SNI (`insecureSkipVerify` honoured only because
 *     Traefik has it: Phoenix never writes it); `healthCheck` takes failing servers out of the rotation;
 *   - answers of its own, with Traefik's texts: 404 "404 page not found" for a host no router matches,
 *     502 "Bad Gateway" when the backend is unreachable or its TLS does not verify, 504 "Gateway Timeout"
 *     when it does not connect within the dial timeout, 503 "Service Unavailable" when no server is healthy;
 *   - the forwarded headers Traefik sets (X-Forwarded-For/-Host/-Port/-Proto/-Server, X-Real-Ip), with the
 *     Host header passed on (passHostHeader). The gateway in front is trusted, as the static configuration
 *     Phoenix documents makes it (forwardedHeaders.trustedIPs), so its X-Forwarded-Proto is kept.
 * Not modelled: websockets, middlewares, TLS on the entrypoint, other providers and rule matchers.
 *
 * This module imports only Node and `yaml`: the lab copies it into the mesh guest and runs it there
 * (traefik.ts). The pure part (parseDynamic, routeFor) is also the memory emulator's Traefik.
 */

export interface DynamicRouter {
  readonly rule: string;
  readonly service: string;
  readonly entryPoints?: readonly string[];
}

export interface DynamicServer {
  readonly url: string;
}

export interface DynamicService {
  readonly loadBalancer: {
    readonly servers: readonly DynamicServer[];
    readonly serversTransport?: string;
    readonly passHostHeader?: boolean;
    readonly healthCheck?: { readonly path: string; readonly interval?: string; readonly timeout?: string };
  };
}

export interface DynamicTransport {
  readonly serverName?: string;
  readonly rootCAs?: readonly string[];
  readonly insecureSkipVerify?: boolean;
}

export interface Dynamic {
  readonly routers: Readonly<Record<string, DynamicRouter>>;
  readonly services: Readonly<Record<string, DynamicService>>;
  readonly serversTransports: Readonly<Record<string, DynamicTransport>>;
}

export const EMPTY_DYNAMIC: Dynamic = { routers: {}, services: {}, serversTransports: {} };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `http` section of a dynamic configuration file (YAML or JSON); throws when it does not parse. */
export function parseDynamic(text: string): Dynamic {
  const doc: unknown = YAML.parse(text);
  if (doc === null || doc === undefined) return EMPTY_DYNAMIC;
  if (!isRecord(doc)) throw new Error('the dynamic configuration is not a mapping');
  const http = doc.http ?? {};
  if (!isRecord(http)) throw new Error('"http" is not a mapping');
  const section = (key: string) => {
    const v = http[key] ?? {};
    if (!isRecord(v)) throw new Error(`"http.${key}" is not a mapping`);
    return v;
  };
  return {
    routers: section('routers') as unknown as Dynamic['routers'],
    services: section('services') as unknown as Dynamic['services'],
    serversTransports: section('serversTransports') as unknown as Dynamic['serversTransports'],
  };
}

/** The host names of a rule made of `Host(...)` matchers joined with `||`; undefined for any other rule. */
export function hostsOfRule(rule: string): string[] | undefined {
  const parts = rule.split('||').map((p) => p.trim());
  const hosts: string[] = [];
  for (const p of parts) {
    const m = /^Host\(\s*((?:`[^`]+`\s*,\s*)*`[^`]+`)\s*\)$/.exec(p);
    if (!m) return undefined;
    for (const h of m[1]!.matchAll(/`([^`]+)`/g)) hosts.push(h[1]!.toLowerCase());
  }
  return hosts.length ? hosts : undefined;
}

export interface Routed {
  readonly router: string;
  readonly service: DynamicService;
  readonly serviceName: string;
}

/** The router for a request's Host on an entrypoint, as Traefik picks it: matching rules, longest first. */
export function routeFor(dyn: Dynamic, host: string, entryPoint = 'web'): Routed | undefined {
  const want = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  const candidates = Object.entries(dyn.routers)
    .filter(([, r]) => isRecord(r) && typeof r.rule === 'string' && typeof r.service === 'string')
    .filter(([, r]) => !r.entryPoints || r.entryPoints.includes(entryPoint))
    .filter(([, r]) => hostsOfRule(r.rule)?.includes(want))
    .filter(([, r]) => isRecord(dyn.services[r.service]))
    .sort(([a, ra], [b, rb]) => rb.rule.length - ra.rule.length || (a < b ? -1 : 1));
  const hit = candidates[0];
  return hit && { router: hit[0], serviceName: hit[1].service, service: dyn.services[hit[1].service]! };
}

/** Go-style durations as Traefik reads them ("30s", "500ms", "1m"); undefined when not one. */
export function durationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

// ---------------------------------------------------------------------------------------------------------
// The running stand-in.

export interface StandInOptions {
  /** The dynamic configuration file (the file provider's `filename`). */
  readonly file: string;
  /** Path prefixes rewritten before a file named in the configuration is read (the lab keeps /usr/local elsewhere). */
  readonly relocate?: ReadonlyArray<readonly [string, string]>;
  /** A listening socket inherited from the lab's launcher, or an address to bind. */
  readonly listen: { readonly fd: number } | { readonly host: string; readonly port: number };
  readonly log?: (line: string) => void;
  /** Dial timeout (Traefik's forwardingTimeouts.dialTimeout, default 30 s). */
  readonly dialTimeoutMs?: number;
}

export interface StandIn {
  readonly server: Server;
  /** Re-reads the file now (SIGHUP does the same). */
  reload(): void;
  close(): Promise<void>;
  current(): Dynamic;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' };

function answer(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, TEXT);
  res.end(body);
}

/** Hop-by-hop headers are never forwarded (RFC 9110 §7.6.1), as Traefik's reverse proxy drops them. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
]);

export function startStandIn(opts: StandInOptions): Promise<StandIn> {
  const log = opts.log ?? ((line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  const dialTimeoutMs = opts.dialTimeoutMs ?? 30_000;
  let dyn: Dynamic = EMPTY_DYNAMIC;
  let loadedHash: string | undefined;
  const turn = new Map<string, number>();
  const down = new Set<string>();
  let checks: NodeJS.Timeout[] = [];

  const relocated = (path: string) => {
    for (const [from, to] of opts.relocate ?? [])
      if (path.startsWith(from)) return to + path.slice(from.length);
    return path;
  };

  const transportOf = (service: DynamicService): DynamicTransport | undefined => {
    const name = service.loadBalancer.serversTransport;
    return name === undefined ? undefined : dyn.serversTransports[name];
  };

  const tlsOptions = (t: DynamicTransport | undefined, host: string) => {
    const ca = (t?.rootCAs ?? []).map((p) => readFileSync(relocated(p), 'utf8'));
    return {
      servername: t?.serverName ?? host,
      ...(ca.length ? { ca } : {}),
      rejectUnauthorized: t?.insecureSkipVerify !== true,
    };
  };

  function upstream(
    url: URL,
    t: DynamicTransport | undefined,
    host: string,
    method: string,
    path: string,
    headers: OutgoingHttpHeaders,
    onResponse: (r: IncomingMessage) => void,
  ) {
    const base = {
      host: url.hostname,
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method,
      path,
      headers,
      agent: false as const,
    };
    return url.protocol === 'https:'
      ? httpsRequest({ ...base, ...tlsOptions(t, host) }, onResponse)
      : httpRequest(base, onResponse);
  }

  function scheduleHealthChecks(): void {
    for (const t of checks) clearInterval(t);
    checks = [];
    down.clear();
    for (const [name, service] of Object.entries(dyn.services)) {
      const hc = service.loadBalancer?.healthCheck;
      if (!hc?.path) continue;
      const every = durationMs(hc.interval) ?? 30_000;
      const timeout = durationMs(hc.timeout) ?? 5_000;
      const probe = () => {
        for (const s of service.loadBalancer.servers ?? []) {
          let url: URL;
          try {
            url = new URL(hc.path, s.url);
          } catch {
            continue;
          }
          const key = `${name} ${s.url}`;
          const fail = (why: string) => {
            if (!down.has(key)) log(`health check ${key}: down (${why})`);
            down.add(key);
          };
          let r: ReturnType<typeof upstream>;
          try {
            r = upstream(
              url,
              transportOf(service),
              url.hostname,
              'GET',
              url.pathname + url.search,
              {},
              (res) => {
                res.resume();
                const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400;
                if (!ok) return fail(`HTTP ${res.statusCode}`);
                if (down.delete(key)) log(`health check ${key}: up`);
              },
            );
          } catch (e) {
            fail((e as Error).message);
            continue;
          }
          r.setTimeout(timeout, () => r.destroy(new Error('timeout')));
          r.on('error', (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
          r.end();
        }
      };
      const timer = setInterval(probe, every);
      timer.unref();
      checks.push(timer);
    }
  }

  function reload(): void {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        log(`cannot read ${opts.file}: ${(e as Error).message}; keeping the current configuration`);
        return;
      }
      text = '';
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === loadedHash) return;
    try {
      dyn = parseDynamic(text);
    } catch (e) {
      log(
        `error while building configuration from ${opts.file}: ${(e as Error).message}; keeping the last good one`,
      );
      return;
    }
    loadedHash = hash;
    for (const [name, r] of Object.entries(dyn.routers)) {
      if (!isRecord(r) || typeof r.rule !== 'string' || hostsOfRule(r.rule) === undefined)
        log(`router ${name}: only Host() rules are understood by the lab stand-in; skipped`);
      else if (!isRecord(dyn.services[r.service]))
        log(`router ${name}: the service "${String(r.service)}" does not exist`);
    }
    scheduleHealthChecks();
    log(
      `configuration loaded from ${opts.file}: ${Object.keys(dyn.routers).length} router(s), ${Object.keys(dyn.services).length} service(s)`,
    );
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const routed = routeFor(dyn, host);
    if (!routed) return answer(res, 404, '404 page not found\n');
    const servers = (routed.service.loadBalancer.servers ?? []).filter(
      (s) => !down.has(`${routed.serviceName} ${s.url}`),
    );
    if (servers.length === 0) return answer(res, 503, 'Service Unavailable');
    const n = turn.get(routed.serviceName) ?? 0;
    turn.set(routed.serviceName, n + 1);
    let url: URL;
    try {
      url = new URL(servers[n % servers.length]!.url);
    } catch {
      return answer(res, 500, 'Internal Server Error');
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers))
      if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    const client = req.socket.remoteAddress ?? '';
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client;
    headers['x-forwarded-host'] = req.headers.host ?? host;
    headers['x-forwarded-port'] = String(req.socket.localPort ?? 80);
    headers['x-forwarded-proto'] = req.headers['x-forwarded-proto'] ?? 'http';
    headers['x-forwarded-server'] = 'phoenix-lab-traefik';
    headers['x-real-ip'] = req.headers['x-real-ip'] ?? client;
    if (routed.service.loadBalancer.passHostHeader === false) headers.host = url.host;
    let connected = false;
    let up: ReturnType<typeof upstream>;
    try {
      up = upstream(
        url,
        transportOf(routed.service),
        host,
        req.method ?? 'GET',
        req.url ?? '/',
        headers,
        (r) => {
          const out: OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(r.headers))
            if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
          res.writeHead(r.statusCode ?? 502, out);
          r.pipe(res);
        },
      );
    } catch (e) {
      // A rootCAs file that cannot be read: Traefik cannot build the transport and answers 502 as well.
      log(`${routed.router}: ${url.href}: ${(e as Error).message}`);
      return answer(res, 502, 'Bad Gateway');
    }
    up.on('socket', (s) => {
      s.once('connect', () => (connected = true));
      s.once('secureConnect', () => (connected = true));
    });
    const dial = setTimeout(() => {
      if (!connected) up.destroy(Object.assign(new Error('dial timeout'), { code: 'ETIMEDOUT' }));
    }, dialTimeoutMs);
    up.on('close', () => clearTimeout(dial));
    up.on('error', (e: NodeJS.ErrnoException) => {
      log(`${routed.router}: ${url.href}: ${e.code ?? e.message}`);
      if (e.code === 'ETIMEDOUT') answer(res, 504, 'Gateway Timeout');
      else answer(res, 502, 'Bad Gateway');
    });
    req.pipe(up);
  }

  reload();
  const server = createServer(handle);
  const watchers: FSWatcher[] = [];
  try {
    // Traefik watches the file's directory, so a file replaced by rename is seen too.
    watchers.push(
      watch(dirname(opts.file), (_event, name) => {
        if (name === null || name === basename(opts.file)) reload();
      }),
    );
  } catch {
    // The directory does not exist yet: the stat poll below notices the file when it appears.
  }
  watchFile(opts.file, { interval: 1000 }, () => reload());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = () =>
      resolve({
        server,
        reload,
        current: () => dyn,
        close: () =>
          new Promise<void>((done) => {
            for (const w of watchers) w.close();
            unwatchFile(opts.file);
            for (const t of checks) clearInterval(t);
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    if ('fd' in opts.listen) server.listen({ fd: opts.listen.fd }, ready);
    else server.listen(opts.listen.port, opts.listen.host, ready);
  });
}

/** `node traefik-standin.js --file F [--relocate FROM=TO]... [--listen HOST:PORT]`; else the fd in $NGINX. */
async function main(argv: readonly string[]): Promise<void> {
  let file: string | undefined;
  let listen: StandInOptions['listen'] | undefined;
  const relocate: Array<[string, string]> = [];
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--file' && value) file = value;
    else if (argv[i] === '--relocate' && value?.includes('=')) {
      const eq = value.indexOf('=');
      relocate.push([value.slice(0, eq), value.slice(eq + 1)]);
    } else if (argv[i] === '--listen' && value) {
      const colon = value.lastIndexOf(':');
      listen = { host: value.slice(0, colon), port: Number(value.slice(colon + 1)) };
    } else throw new Error(`unknown argument ${argv[i]}`);
    i++;
  }
  if (!file) throw new Error('--file is required');
  if (!listen) {
    // The lab's launcher binds the entrypoint's socket as host root and announces it like nginx's.
    const fd = Number((process.env.NGINX ?? '').split(';')[0]);
    if (!Number.isInteger(fd) || fd <= 2) throw new Error('no --listen and no inherited socket in $NGINX');
    listen = { fd };
  }
  const standIn = await startStandIn({ file, relocate, listen });
  const address = standIn.server.address();
  process.stdout.write(
    `${new Date().toISOString()} phoenix lab traefik stand-in (pid ${process.pid}) listening on ${typeof address === 'string' ? address : `${address?.address}:${address?.port}`} (entrypoint web)\n`,
  );
  process.on('SIGHUP', () => standIn.reload());
  const stop = () => void standIn.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`traefik stand-in: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
