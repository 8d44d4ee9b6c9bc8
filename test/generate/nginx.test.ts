import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayCertPaths, nginxGatewayConfig, type NginxGatewayOptions } from '../../src/generate/nginx.js';
import { meshRoutes } from '../../src/generate/routes.js';
import { nameCovers } from '../../src/generate/topology.js';
import type { Inventory } from '../../src/model/inventory.js';
import { assertGolden } from '../helpers/golden.js';
import { directive, exampleInventory, serverBlocks } from './helpers.js';

const NGINX = '/usr/sbin/nginx';
const WEBROOT = '/var/www/phoenix-acme';

const full = (inv: Inventory, extra: Partial<NginxGatewayOptions> = {}): NginxGatewayOptions => ({
  part: 'tls',
  webroot: WEBROOT,
  certPaths: gatewayCertPaths(inv),
  ...extra,
});

test('the example topology gives the golden gateway configs (port 80 and TLS)', async () => {
  const inv = await exampleInventory();
  assertGolden('generate/homelab.nginx-http.conf', nginxGatewayConfig(inv, { ...full(inv), part: 'http' }));
  assertGolden('generate/homelab.nginx-tls.conf', nginxGatewayConfig(inv, full(inv)));
});

test('the bootstrap serves ACME challenges and redirects, with no TLS server at all', async () => {
  const conf = nginxGatewayConfig(await exampleInventory(), {
    part: 'http',
    webroot: WEBROOT,
    certPaths: () => undefined,
  });
  const blocks = serverBlocks(conf);
  assert.equal(blocks.length, 1);
  assert.deepEqual(directive(blocks[0]!, 'listen'), ['10.0.0.153:80 default_server']);
  assert.deepEqual(directive(blocks[0]!, 'root'), [WEBROOT]);
  assert.match(blocks[0]!, /return 301 https:\/\/\$host\$request_uri;/);
  assert.doesNotMatch(conf, /ssl/);
});

test('every routed name with a certificate has exactly one TLS server, and its certificate covers it', async () => {
  const inv = await exampleInventory();
  const conf = nginxGatewayConfig(inv, full(inv));
  const certNamesByPath = new Map(
    inv.certificates.flatMap((c) => c.install.map((t) => [t.cert.location.path, c.dnsNames] as const)),
  );
  const tlsBlocks = serverBlocks(conf).filter((b) => directive(b, 'ssl_certificate').length > 0);
  const covered = meshRoutes(inv)
    .routes.map((r) => r.hostname)
    .filter((h) => gatewayCertPaths(inv)(h));
  assert.deepEqual(covered, [
    'ca.internal.thinkheads.ai',
    'portainer.internal.thinkheads.ai',
    'qdrant.internal.thinkheads.ai',
  ]);
  for (const name of covered) {
    const serving = tlsBlocks.filter((b) => directive(b, 'server_name')[0]!.split(/\s+/).includes(name));
    assert.equal(serving.length, 1, `${name} has ${serving.length} TLS servers`);
    const names = certNamesByPath.get(directive(serving[0]!, 'ssl_certificate')[0]!) ?? [];
    assert.ok(
      names.some((n) => nameCovers(n, name)),
      `the certificate of ${name}'s server does not cover it`,
    );
    assert.deepEqual(directive(serving[0]!, 'ssl_protocols'), ['TLSv1.2 TLSv1.3']);
    assert.deepEqual(directive(serving[0]!, 'proxy_pass'), ['http://10.0.0.12:80']);
  }
  assert.match(
    conf,
    /no certificate installed on the gateway covers these names yet:\n# {3}portainer-agent\.internal\.thinkheads\.ai/,
  );
});

test('certificate paths are literal, and every TLS listener speaks http2 the nginx 1.22 way', async () => {
  const inv = await exampleInventory();
  const conf = nginxGatewayConfig(inv, full(inv));
  for (const line of conf.split('\n').filter((l) => /ssl_certificate/.test(l)))
    assert.doesNotMatch(line, /\$/);
  assert.doesNotMatch(conf, /http2 on;/);
  for (const l of conf.split('\n').filter((x) => x.includes(':443')))
    assert.match(l, /listen 10\.0\.0\.153:443 ssl http2( default_server)?;$/);
  assert.equal(conf.match(/^map \$http_upgrade \$connection_upgrade/gm)?.length, 1);
  assert.throws(
    () =>
      nginxGatewayConfig(
        inv,
        full(inv, { certPaths: () => ({ cert: '/etc/nginx/ssl/$ssl_server_name.crt', key: '/k' }) }),
      ),
    /literal absolute path/,
  );
  assert.throws(
    () => nginxGatewayConfig(inv, full(inv, { part: 'http', webroot: '/var/www; include /etc/passwd' })),
    /literal absolute path/,
  );
});

test('the mesh can be reached over verified TLS when asked', async () => {
  const inv = await exampleInventory();
  const conf = nginxGatewayConfig(
    inv,
    full(inv, {
      meshTls: {
        port: 443,
        serverName: 'traefik.internal.thinkheads.ai',
        trustedCertificate: '/etc/ssl/certs/phoenix-root.pem',
      },
    }),
  );
  const block = serverBlocks(conf).find((b) => b.includes('server_name qdrant.'))!;
  assert.deepEqual(directive(block, 'proxy_pass'), ['https://10.0.0.12:443']);
  assert.deepEqual(directive(block, 'proxy_ssl_verify'), ['on']);
  assert.deepEqual(directive(block, 'proxy_ssl_name'), ['traefik.internal.thinkheads.ai']);
});

const nginxSkip = existsSync(NGINX) ? false : `nginx is not installed (${NGINX}); CI installs it`;

test(
  'nginx -t accepts both configs, wrapped in a minimal nginx.conf on a loopback address',
  { skip: nginxSkip },
  async () => {
    const inv = await exampleInventory();
    const dir = mkdtempSync(join(tmpdir(), 'phoenix-nginx-'));
    try {
      mkdirSync(join(dir, 'webroot'));
      const cert = join(dir, 'gateway.crt');
      const key = join(dir, 'gateway.key');
      // argv, never a shell string; a throwaway self-signed pair stands in for the issued certificate.
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=phoenix-test',
        ],
        { stdio: 'ignore' },
      );
      const covers = gatewayCertPaths(inv);
      // Each part alone (the order of a fresh system) and both together (the steady state).
      const parts = { http: ['http'], tls: ['tls'], both: ['http', 'tls'] } as const;
      for (const [tls, which] of Object.entries(parts)) {
        const site = join(dir, `gateway-${tls}.conf`);
        writeFileSync(
          site,
          which
            .map((part) =>
              nginxGatewayConfig(inv, {
                part,
                webroot: join(dir, 'webroot'),
                certPaths: (h) => (covers(h) ? { cert, key } : undefined),
                listenAddress: '127.0.0.153',
                ports: { http: 18080, https: 18443 },
              }),
            )
            .join('\n'),
        );
        const wrapper = join(dir, `nginx-${tls}.conf`);
        writeFileSync(wrapper, wrap(dir, site));
        const r = spawnSync(NGINX, ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', wrapper], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, `nginx -t (${tls}) failed: ${r.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

function wrap(dir: string, site: string): string {
  const tmp = (n: string) => `${n}_temp_path ${join(dir, n)};`;
  return [
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')};`,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join('\n  ')}`,
    `  include ${site};`,
    '}',
    '',
  ].join('\n');
}
