import { ABS_PATH_RE, DNS_NAME_RE } from '../config/schema/common.js';
import type { Inventory } from '../model/inventory.js';
import { gatewayNames } from './routes.js';
import { gatewayGuest, generatedHeader, meshGuest } from './topology.js';

export { gatewayCertPaths } from './nginx-certs.js';

/**
 * The gateway's server blocks, for nginx's http context (the caller wraps them), in two files so that a
 * fresh system can be brought up in order. `part: 'http'`: port 80 serves ACME http-01 challenges from the
 * webroot and redirects everything else to https; it needs no certificate, so it runs before any is issued.
 * `part: 'tls'`: each name the gateway answers for gets its own TLS server once a certificate covers it;
 * nginx refuses to start on a missing certificate file, so this part is installed after the certificates.
 */

export interface CertPaths {
  readonly cert: string;
  readonly key: string;
}

export interface NginxGatewayOptions {
  readonly part: 'http' | 'tls';
  /** Directory whose `.well-known/acme-challenge/` holds the http-01 tokens. */
  readonly webroot: string;
  /** Literal paths of the certificate (full chain) and key that cover a name, as seen inside the gateway. */
  readonly certPaths: (hostname: string) => CertPaths | undefined;
  /** Address to listen on; defaults to the gateway guest's address. */
  readonly listenAddress?: string;
  readonly ports?: { readonly http?: number; readonly https?: number };
  /** Largest request body the gateway passes on (uploads to Portainer, vector batches to Qdrant). */
  readonly clientMaxBodySize?: string;
  /** Reach the mesh over TLS instead of plain HTTP on its `web` entrypoint, verifying it against the internal CA. */
  readonly meshTls?: {
    readonly port: number;
    readonly serverName: string;
    readonly trustedCertificate: string;
  };
}

const ADDRESS_RE = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])$/;
const SIZE_RE = /^\d+[kKmMgG]?$/;

/** Paths go into the file literally: a "$" would make nginx read the key in a worker, per handshake, as www-data. */
function literalPath(path: string, what: string): string {
  if (!ABS_PATH_RE.test(path))
    throw new Error(`${what} must be a literal absolute path (no "$", spaces or quotes): ${path}`);
  return path;
}

export function nginxGatewayConfig(inv: Inventory, opts: NginxGatewayOptions): string {
  const gw = gatewayGuest(inv);
  const address = opts.listenAddress ?? gw?.ip;
  if (!address || !ADDRESS_RE.test(address))
    throw new Error(`no valid listen address for the gateway (got ${String(address)})`);
  const httpPort = opts.ports?.http ?? 80;
  const httpsPort = opts.ports?.https ?? 443;
  const bodySize = opts.clientMaxBodySize ?? '100m';
  if (!SIZE_RE.test(bodySize))
    throw new Error(`clientMaxBodySize must be an nginx size like 100m: ${bodySize}`);

  const out = [
    generatedHeader(),
    '# Server blocks for the http context of the nginx gateway; see docs/network.md.',
    '',
  ];
  if (opts.part === 'http') {
    out.push(...httpServer(address, httpPort, opts.webroot));
    return out.join('\n') + '\n';
  }
  return tlsServers(inv, opts, out, address, httpsPort, bodySize);
}

function httpServer(address: string, port: number, webroot: string): string[] {
  return [
    '# Port 80: ACME http-01 challenges are answered from the webroot; everything else moves to https.',
    'server {',
    `    listen ${address}:${port} default_server;`,
    '    server_name _;',
    '',
    '    location ^~ /.well-known/acme-challenge/ {',
    `        root ${literalPath(webroot, 'webroot')};`,
    '        default_type text/plain;',
    '        try_files $uri =404;',
    '    }',
    '',
    '    location / {',
    '        return 301 https://$host$request_uri;',
    '    }',
    '}',
  ];
}

function tlsServers(
  inv: Inventory,
  opts: NginxGatewayOptions,
  out: string[],
  address: string,
  httpsPort: number,
  bodySize: string,
): string {
  const listen = `    listen ${address}:${httpsPort} ssl http2`;
  const covered = gatewayNames(inv).map((name) => ({ name, paths: opts.certPaths(name) }));
  const withCert = covered.filter((c): c is { name: string; paths: CertPaths } => c.paths !== undefined);
  const mesh = meshGuest(inv);
  if (withCert.length > 0 && !mesh)
    throw new Error(
      'TLS servers proxy to the Traefik mesh, but no guest with feature "traefik" has a static address',
    );
  if (opts.meshTls && !DNS_NAME_RE.test(opts.meshTls.serverName))
    throw new Error(`meshTls.serverName is not a DNS name: ${opts.meshTls.serverName}`);
  const upstream = opts.meshTls ? `https://${mesh?.ip}:${opts.meshTls.port}` : `http://${mesh?.ip}:80`;

  out.push(
    'map $http_upgrade $connection_upgrade {',
    '    default upgrade;',
    "    ''      close;",
    '}',
    '',
    "# A name without its own server gets no certificate at all rather than some other name's.",
    'server {',
    `${listen} default_server;`,
    '    ssl_reject_handshake on;',
    '}',
  );
  for (const { name, paths } of withCert) {
    out.push('', 'server {', `${listen};`, `    server_name ${name};`, '');
    out.push(
      `    ssl_certificate ${literalPath(paths.cert, `certificate path for ${name}`)};`,
      `    ssl_certificate_key ${literalPath(paths.key, `key path for ${name}`)};`,
      '    ssl_protocols TLSv1.2 TLSv1.3;',
      '    ssl_session_cache shared:phoenix_tls:10m;',
      '    ssl_session_timeout 1d;',
      '    ssl_session_tickets off;',
      '',
      `    client_max_body_size ${bodySize};`,
      '',
      '    location / {',
      ...proxyLines(upstream, opts.meshTls),
      '    }',
      '}',
    );
  }
  const missing = covered.filter((c) => c.paths === undefined).map((c) => c.name);
  if (missing.length > 0) {
    out.push('', '# No TLS server, because no certificate installed on the gateway covers these names yet:');
    out.push(...missing.map((n) => `#   ${n}`));
  }
  return out.join('\n') + '\n';
}

/**
 * Reports on every answer whether it came from the mesh: `$upstream_status $upstream_header_time`. nginx
 * fills the header time only when the mesh sent a response header, so "502 -" or "504 -" is nginx's own
 * error (the mesh unreachable), while "502 0.004" is the mesh's answer. Verification reads it.
 */
export const UPSTREAM_HEADER = 'X-Phoenix-Upstream';

function proxyLines(upstream: string, meshTls: NginxGatewayOptions['meshTls']): string[] {
  const lines = [
    `proxy_pass ${upstream};`,
    'proxy_http_version 1.1;',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header Upgrade $http_upgrade;',
    'proxy_set_header Connection $connection_upgrade;',
    'proxy_connect_timeout 5s;',
    'proxy_send_timeout 60s;',
    'proxy_read_timeout 60s;',
    `add_header ${UPSTREAM_HEADER} "$upstream_status $upstream_header_time" always;`,
  ];
  if (meshTls) {
    lines.push(
      'proxy_ssl_verify on;',
      `proxy_ssl_trusted_certificate ${literalPath(meshTls.trustedCertificate, 'trusted CA of the mesh')};`,
      'proxy_ssl_server_name on;',
      `proxy_ssl_name ${meshTls.serverName};`,
      'proxy_ssl_protocols TLSv1.2 TLSv1.3;',
    );
  }
  return lines.map((l) => `        ${l}`);
}
