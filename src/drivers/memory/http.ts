import { X509Certificate } from 'node:crypto';
import { MANAGED_PATHS } from '../../graph/paths.js';
import { parseDynamic, routeFor } from '../../lab/services/traefik-standin.js';
import type { GuestId, GuestRef } from '../../model/inventory.js';
import { ProbeError } from '../probe/errors.js';
import type { HttpProbe, HttpProbeRequest, HttpProbeResponse } from '../probe/types.js';
import type { MemoryWorld, WorldSpace } from './world.js';

/**
 * HTTP(S) answers of the emulated world, modelled on the real programs:
 *   - the gateway's nginx (port 443) presents the certificate it loaded for the SNI (nginx-model.ts), or
 *     refuses the handshake; the chain must verify against the request's roots. It proxies `location /` to
 *     its `proxy_pass` upstream and adds its `add_header … always` lines with $upstream_status and
 *     $upstream_header_time filled in the way nginx fills them: "-" for the header time when the upstream
 *     sent nothing, with nginx's own 502 when nothing listens there (a stopped guest, no Traefik).
 *   - Traefik (port 80 of a guest whose traefik unit is active) routes by Host through the guest's
 *     dynamic file with the lab stand-in's router model: 404 for an unknown host, 502 when the backend's
 *     guest is not running, else 200 from an emulated backend.
 * A stopped guest or a port nothing serves refuses the connection.
 */

const ipOf = (settingsIp: string | undefined) => settingsIp?.split('/')[0];

function guestAt(world: MemoryWorld, address: string): GuestId | undefined {
  for (const g of Object.values(world.state.guests)) if (ipOf(g.settings.ip) === address) return g.id;
  return undefined;
}

const running = (world: MemoryWorld, ref: GuestRef) =>
  ref === 'host' || world.guest(ref)?.status === 'running';
const text = (space: WorldSpace, path: string) => {
  const f = space.files[path];
  return f ? Buffer.from(f.content, 'base64').toString('utf8') : undefined;
};

function serverBlocks(conf: string): string[] {
  const out: string[] = [];
  for (const m of conf.matchAll(/^\s*server\s*\{/gm)) {
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < conf.length; i++) {
      if (conf[i] === '{') depth++;
      else if (conf[i] === '}' && --depth === 0) {
        out.push(conf.slice(m.index, i + 1));
        break;
      }
    }
  }
  return out;
}

/** The server block of conf.d/*.conf that serves `name` on `port`. */
function serverFor(space: WorldSpace, name: string, port: number): string | undefined {
  for (const path of Object.keys(space.files)
    .filter((p) => /^\/etc\/nginx\/conf\.d\/[^/]+\.conf$/.test(p))
    .sort()) {
    for (const block of serverBlocks(text(space, path) ?? '')) {
      if (!new RegExp(`^\\s*listen\\s+\\S+:${port}\\b`, 'm').test(block)) continue;
      const names = /^\s*server_name\s+([^;]+);/m.exec(block)?.[1]?.split(/\s+/) ?? [];
      if (names.map((n) => n.toLowerCase()).includes(name.toLowerCase())) return block;
    }
  }
  return undefined;
}

function verifyChain(certPem: string, name: string, roots: string): string | undefined {
  const leaf = new X509Certificate(certPem);
  if (!leaf.checkHost(name)) return `the certificate does not cover ${name} (ERR_TLS_CERT_ALTNAME_INVALID)`;
  const anchors = roots
    .split(/(?<=-----END CERTIFICATE-----)/)
    .filter((p) => p.includes('BEGIN CERTIFICATE'));
  const trusted = anchors.some((pem) => {
    const root = new X509Certificate(pem.trim());
    return leaf.checkIssued(root) && leaf.verify(root.publicKey);
  });
  return trusted ? undefined : 'unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)';
}

function traefikAnswer(world: MemoryWorld, mesh: GuestId, host: string): HttpProbeResponse {
  const space = world.guest(mesh)!;
  let routed;
  try {
    routed = routeFor(parseDynamic(text(space, MANAGED_PATHS.traefikDynamic) ?? ''), host);
  } catch {
    routed = undefined;
  }
  if (!routed)
    return {
      status: 404,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: '404 page not found\n',
    };
  const up = (routed.service.loadBalancer.servers ?? []).find((s) => {
    const g = guestAt(world, new URL(s.url).hostname);
    return g !== undefined && running(world, g);
  });
  if (!up)
    return { status: 502, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Bad Gateway' };
  return { status: 200, headers: { 'content-type': 'text/plain' }, body: `emulated backend ${up.url}\n` };
}

function nginxAnswer(world: MemoryWorld, req: HttpProbeRequest, space: WorldSpace): HttpProbeResponse {
  const where = `${req.serverName} at ${String(req.guest)}:${req.port}`;
  const pem = space.services.nginx?.served?.[req.serverName.toLowerCase()];
  if (!pem) throw new ProbeError(`${where}: handshake rejected (tlsv1 unrecognized name)`, 'handshake');
  const untrusted = verifyChain(pem, req.serverName, req.trustedRoots ?? '');
  if (untrusted) throw new ProbeError(`${where}: ${untrusted}`, 'untrusted');
  const block = serverFor(space, req.serverName, req.port);
  const pass = block && /^\s*proxy_pass\s+([^;]+);/m.exec(block)?.[1];
  if (!block || !pass) return { status: 404, headers: {}, body: '404 Not Found' };
  const url = new URL(pass);
  const mesh = guestAt(world, url.hostname);
  const port = Number(url.port || 80);
  const reachable =
    url.protocol === 'http:' &&
    port === 80 &&
    mesh !== undefined &&
    running(world, mesh) &&
    world.guest(mesh)!.services.traefik?.active === true;
  const upstream = reachable
    ? { ...traefikAnswer(world, mesh, req.serverName), headerTime: '0.001' }
    : {
        status: 502,
        headers: {},
        body: '<html><head><title>502 Bad Gateway</title></head></html>',
        headerTime: '-',
      };
  const headers: Record<string, string> = { ...upstream.headers };
  for (const m of block.matchAll(/^\s*add_header\s+(\S+)\s+"([^"]*)"\s+always\s*;/gm)) {
    headers[m[1]!.toLowerCase()] = m[2]!
      .replaceAll('$upstream_status', String(upstream.status))
      .replaceAll('$upstream_header_time', upstream.headerTime)
      .replaceAll('$upstream_addr', `${url.hostname}:${port}`);
  }
  return { status: upstream.status, headers, body: upstream.body };
}

export function memoryHttpProbe(world: MemoryWorld): HttpProbe {
  return {
    get(req) {
      const where = `${req.scheme}://${req.serverName} at ${String(req.guest)}:${req.port}`;
      const space = world.space(req.guest);
      if (!space || !running(world, req.guest))
        return Promise.reject(new ProbeError(`${where}: ECONNREFUSED`, 'refused'));
      try {
        if (req.scheme === 'https' && req.port === 443 && space.services.nginx?.active) {
          return Promise.resolve(nginxAnswer(world, req, space));
        }
        if (
          req.scheme === 'http' &&
          req.port === 80 &&
          req.guest !== 'host' &&
          space.services.traefik?.active
        ) {
          return Promise.resolve(traefikAnswer(world, req.guest, req.serverName));
        }
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.reject(new ProbeError(`${where}: ECONNREFUSED`, 'refused'));
    },
  };
}
