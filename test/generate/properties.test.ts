import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { dnsmasqConfig, dnsRecords } from '../../src/generate/dnsmasq.js';
import { answerFor, parseDnsmasqRecords } from '../../src/generate/dnsmasq-parse.js';
import { gatewayCertPaths, nginxGatewayConfig } from '../../src/generate/nginx.js';
import { meshRoutes } from '../../src/generate/routes.js';
import { gatewayGuest, nameCovers } from '../../src/generate/topology.js';
import { traefikDynamicConfig } from '../../src/generate/traefik.js';
import { hostsOfRule } from '../../src/lab/services/traefik-standin.js';
import type { Inventory } from '../../src/model/inventory.js';
import { analyseFixture, baseHypervisor, lxc } from '../helpers/config-fixture.js';
import { directive, exampleInventory, serverBlocks } from './helpers.js';

/**
 * Properties of the generated network files, on the example and on seeded variants: every routed name has
 * exactly one Traefik router, exactly one DNS record (the gateway's address), and exactly one TLS server on
 * the gateway whose certificate covers it (or is listed as not served yet when no certificate covers it).
 * The generated files are then fed to the real `dnsmasq --test` and `nginx -t`.
 */

const WEBROOT = '/var/www/phoenix-acme';
const DNSMASQ = '/usr/sbin/dnsmasq';
const NGINX = '/usr/sbin/nginx';

/** mulberry32: a small seeded generator, so a failing variant can be reproduced from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['grafana', 'wiki', 'vault', 'git', 'media', 'books', 'notes', 'photos', 'chat', 'status'];
const PORTS = [80, 3000, 8080, 8443, 9000, 9443];

interface Variant {
  readonly seed: number;
  readonly inv: Inventory;
}

/**
 * A gateway (101), a mesh (102) and step-ca (103), plus 2 to 6 application guests with a traefik_service:
 * random ports and schemes, some with an explicit hostname that collides with another guest's routed name
 * or with a guest's own name. One gateway certificate covers a random subset of the routed names; some
 * variants add a wildcard certificate (exact names must still win); the rest stay uncovered.
 */
async function variant(seed: number): Promise<Variant> {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const guests: Record<string, unknown> = {
    '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'] }),
    '101': lxc('gateway', '10.0.0.153', { features: ['nginx'] }),
    '102': lxc('traefik', '10.0.0.12', { features: ['traefik'] }),
  };
  const count = 2 + Math.floor(r() * 5);
  const names = [...NAMES].sort(() => r() - 0.5).slice(0, count);
  const hostnames: string[] = [];
  names.forEach((name, i) => {
    const service: Record<string, unknown> = { name, port: pick(PORTS) };
    if (r() < 0.3) service.scheme = pick(['http', 'https']);
    if (r() < 0.25) service.health_path = '/health';
    // Sometimes claim a name another guest already routes (a collision), or a guest's own name.
    if (i > 0 && r() < 0.2) service.hostname = hostnames[0];
    else if (r() < 0.15) service.hostname = `${names[(i + 1) % names.length]}-host.internal.example`;
    hostnames.push(String(service.hostname ?? `${name}.internal.example`));
    // The guest's own name is sometimes the routed name of another (the example's "Portainer" case).
    const guestName = r() < 0.2 && i > 0 ? names[0]! : `${name}-host`;
    guests[String(104 + i)] = lxc(guestName, `10.0.0.${40 + i}`, { traefik_service: service });
  });
  const unique = [...new Set(hostnames)];
  const covered = unique.filter(() => r() < 0.7);
  const wildcard = r() < 0.4;
  const install = (file: string) => [
    { guest: 101, key: { path: `/etc/nginx/ssl/${file}.key` }, cert: { path: `/etc/nginx/ssl/${file}.crt` } },
  ];
  const certificates = [
    ...(covered.length
      ? [{ common_name: covered[0], sans: covered, usage: 'server', install: install('gateway') }]
      : []),
    ...(wildcard
      ? [
          {
            common_name: '*.internal.example',
            sans: ['*.internal.example'],
            usage: 'server',
            install: install('wildcard'),
          },
        ]
      : []),
  ];
  const a = await analyseFixture({
    hypervisor: baseHypervisor(),
    lxc: { lxc_configs: guests },
    certificates: {
      issuers: {
        internal: {
          type: 'step-ca-jwk',
          url: 'https://step-ca.internal.example:9000',
          provisioner: 'admin',
          password: 'env:PW',
          guest: 103,
        },
      },
      defaults: { issuer: 'internal' },
      certificates,
    },
  });
  const errors = a.diagnostics.items.filter((d) => d.severity === 'error').map((d) => d.message);
  assert.deepEqual(errors, [], `variant seed ${seed} is not a valid configuration`);
  return { seed, inv: a.inventory! };
}

const SEEDS = [1, 2, 3, 5, 8, 13, 21];

async function allInventories(): Promise<Array<{ label: string; inv: Inventory }>> {
  const out = [{ label: 'the example', inv: await exampleInventory() }];
  for (const seed of SEEDS) out.push({ label: `variant seed ${seed}`, inv: (await variant(seed)).inv });
  return out;
}

function checkProperties(label: string, inv: Inventory): { routed: number; served: number } {
  const routes = meshRoutes(inv).routes;
  const gw = gatewayGuest(inv)!;
  const dynamic = YAML.parse(traefikDynamicConfig(inv)) as {
    http: { routers: Record<string, { rule: string; service: string }>; services: Record<string, unknown> };
  };
  const records = dnsmasqConfig(inv);
  const readBack = parseDnsmasqRecords(records);
  const tls = nginxGatewayConfig(inv, { part: 'tls', webroot: WEBROOT, certPaths: gatewayCertPaths(inv) });
  const blocks = serverBlocks(tls).filter((b) => directive(b, 'ssl_certificate').length > 0);
  const gatewayCerts = inv.certificates.filter(
    (c) => c.usage === 'server' && c.install.some((t) => t.guest === gw.id),
  );
  const byPath = new Map(
    gatewayCerts.flatMap((c) => c.install.map((t) => [t.cert.location.path, c] as const)),
  );
  let served = 0;
  assert.equal(
    new Set(routes.map((r) => r.hostname)).size,
    routes.length,
    `${label}: a name is routed twice`,
  );
  for (const route of routes) {
    const name = route.hostname;
    const where = `${label}, ${name}`;
    // Exactly one router, and its service exists.
    const routers = Object.entries(dynamic.http.routers).filter(([, r]) =>
      hostsOfRule(r.rule)?.includes(name),
    );
    assert.equal(routers.length, 1, `${where}: ${routers.length} Traefik routers`);
    assert.ok(dynamic.http.services[routers[0]![1].service], `${where}: the router's service is missing`);
    // Exactly one DNS record, and it is the gateway's address.
    const lines = records
      .split('\n')
      .filter((l) => l.startsWith('host-record=') && l.slice(12).split(',')[0] === name);
    assert.equal(lines.length, 1, `${where}: ${lines.length} host-record lines`);
    assert.deepEqual(answerFor(readBack, name), [gw.ip], `${where}: does not resolve to the gateway only`);
    assert.equal(dnsRecords(inv).filter((r) => r.name === name).length, 1, `${where}: the record table`);
    // Exactly one TLS server when a certificate on the gateway covers the name, and its certificate covers it.
    const covering = gatewayCerts.filter((c) => c.dnsNames.some((n) => nameCovers(n, name)));
    const servers = blocks.filter((b) => directive(b, 'server_name')[0]!.split(/\s+/).includes(name));
    if (covering.length === 0) {
      assert.equal(servers.length, 0, `${where}: a TLS server without a certificate`);
      assert.match(
        tls,
        new RegExp(`^# {3}${name.replaceAll('.', '\\.')}$`, 'm'),
        `${where}: not listed as unserved`,
      );
      continue;
    }
    served++;
    assert.equal(servers.length, 1, `${where}: ${servers.length} TLS servers`);
    const cert = byPath.get(directive(servers[0]!, 'ssl_certificate')[0]!);
    assert.ok(cert, `${where}: its TLS server uses a file no gateway certificate installs`);
    assert.ok(
      cert.dnsNames.some((n) => nameCovers(n, name)),
      `${where}: its certificate does not cover it`,
    );
    // When an exact certificate and a wildcard both cover it, the exact one is used.
    if (covering.some((c) => c.dnsNames.some((n) => n.toLowerCase() === name)))
      assert.ok(
        cert.dnsNames.some((n) => n.toLowerCase() === name),
        `${where}: a wildcard beat the exact name`,
      );
  }
  return { routed: routes.length, served };
}

test('every routed name has one router, one DNS record (the gateway) and one TLS server whose certificate covers it', async (t) => {
  let routed = 0;
  let served = 0;
  for (const { label, inv } of await allInventories()) {
    const n = checkProperties(label, inv);
    t.diagnostic(`${label}: ${n.routed} routed, ${n.served} served with a certificate`);
    routed += n.routed;
    served += n.served;
  }
  // The variants exercise both branches: names served with a certificate, and names not covered yet.
  assert.ok(served > 5 && routed > served, `routed ${routed}, served ${served}`);
});

test('the variants are different topologies (the generator is not stuck on one shape)', async () => {
  const shapes = new Set<string>();
  for (const seed of SEEDS) {
    const { inv } = await variant(seed);
    shapes.add(
      JSON.stringify(meshRoutes(inv).routes.map((r) => [r.hostname, r.backends.map((b) => b.scheme)])),
    );
  }
  assert.equal(shapes.size, SEEDS.length);
});

test(
  'dnsmasq --test accepts every generated records file, included from a minimal config with conf-file=',
  { skip: existsSync(DNSMASQ) ? false : `dnsmasq is not installed (${DNSMASQ})` },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phoenix-props-dnsmasq-'));
    try {
      for (const [i, { label, inv }] of (await allInventories()).entries()) {
        const records = join(dir, `records-${i}.conf`);
        const wrapper = join(dir, `dnsmasq-${i}.conf`);
        writeFileSync(records, dnsmasqConfig(inv));
        // --test only parses: nothing is bound and no upstream is contacted.
        writeFileSync(wrapper, ['port=0', 'no-hosts', `conf-file=${records}`, ''].join('\n'));
        const r = spawnSync(DNSMASQ, ['--test', '-C', wrapper], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${label}: dnsmasq --test failed: ${r.stderr}`);
        assert.match(r.stdout + r.stderr, /syntax check OK/i);
      }
      // And the check can fail: a broken record is refused.
      const broken = join(dir, 'broken.conf');
      writeFileSync(broken, 'host-record=\n');
      writeFileSync(join(dir, 'broken-wrapper.conf'), `port=0\nconf-file=${broken}\n`);
      const bad = spawnSync(DNSMASQ, ['--test', '-C', join(dir, 'broken-wrapper.conf')], {
        encoding: 'utf8',
      });
      assert.notEqual(bad.status, 0, 'dnsmasq --test accepted a broken record');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'nginx -t accepts the port-80 and TLS files of every variant, with throwaway certificates',
  { skip: existsSync(NGINX) ? false : `nginx is not installed (${NGINX})` },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phoenix-props-nginx-'));
    try {
      mkdirSync(join(dir, 'webroot'));
      const cert = join(dir, 'gateway.crt');
      const key = join(dir, 'gateway.key');
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
          '/CN=phoenix-properties',
        ],
        { stdio: 'ignore' },
      );
      for (const [i, { label, inv }] of (await allInventories()).entries()) {
        const covers = gatewayCertPaths(inv);
        const files = (['http', 'tls'] as const).map((part) => {
          const file = join(dir, `gateway-${i}-${part}.conf`);
          writeFileSync(
            file,
            nginxGatewayConfig(inv, {
              part,
              webroot: join(dir, 'webroot'),
              certPaths: (h) => (covers(h) ? { cert, key } : undefined),
              // nginx -t binds its listeners: a loopback address per variant, high ports.
              listenAddress: `127.0.98.${i + 1}`,
              ports: { http: 18080, https: 18443 },
            }),
          );
          return file;
        });
        const wrapper = join(dir, `nginx-${i}.conf`);
        writeFileSync(wrapper, wrap(dir, files));
        const r = spawnSync(NGINX, ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', wrapper], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, `${label}: nginx -t failed: ${r.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

function wrap(dir: string, sites: readonly string[]): string {
  const tmp = (n: string) => `${n}_temp_path ${join(dir, n)};`;
  return [
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')};`,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join('\n  ')}`,
    ...sites.map((s) => `  include ${s};`),
    '}',
    '',
  ].join('\n');
}
