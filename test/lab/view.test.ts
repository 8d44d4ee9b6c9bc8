import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsmasqConfig } from '../../src/generate/dnsmasq.js';
import { nginxGatewayConfig } from '../../src/generate/nginx.js';
import { gatewayCertPaths } from '../../src/generate/nginx-certs.js';
import { traefikDynamicConfig } from '../../src/generate/traefik.js';
import { caGuestOf, labCaUrl, labText, labView } from '../../src/lab/view.js';
import { exampleInventory } from '../generate/helpers.js';

/** Any IPv4 address outside 127/8 (with an optional prefix), wherever it appears. */
const NON_LOOPBACK_V4 = /(?<![\d.])(?!127\.)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])/g;
const offenders = (text: string) => [...text.matchAll(NON_LOOPBACK_V4)].map((m) => m[0]);

test('labText moves every IPv4 address into 127/8 and keeps the rest', () => {
  assert.equal(labText('10.0.0.153'), '127.0.0.153');
  assert.equal(labText('10.0.0.13/24'), '127.0.0.13/24');
  assert.equal(labText('source 10.0.0.0/24, dns 8.8.8.8'), 'source 127.0.0.0/24, dns 127.8.8.8');
  assert.equal(labText('127.0.0.10'), '127.0.0.10');
  assert.equal(labText('version 1.0.0 and 1.2.3.4.5'), 'version 1.0.0 and 1.2.3.4.5');
  assert.equal(labText('999.1.1.1'), '999.1.1.1');
});

test('labView maps guests, host, CA issuers and DNS upstreams of the example; the input is untouched', async () => {
  const inv = await exampleInventory();
  const before = JSON.stringify([...inv.guests.values()].map((g) => g.ip));
  const view = labView(inv);
  assert.equal(JSON.stringify([...inv.guests.values()].map((g) => g.ip)), before);

  assert.equal(inv.guests.get(101)?.ip, '10.0.0.153');
  assert.equal(view.guests.get(101)?.ip, '127.0.0.153');
  assert.equal(view.guests.get(103)?.ip, '127.0.0.10');
  assert.equal(view.guests.get(1001)?.ip, '127.0.0.111');
  for (const g of view.guests.values()) {
    if (g.ip !== undefined && g.ip !== 'dhcp') assert.match(g.ip, /^127\./, `guest ${g.id}`);
    if (g.gateway !== undefined) assert.match(g.gateway, /^127\./, `gateway of ${g.id}`);
    for (const ns of g.nameservers) assert.match(ns, /^127\./, `nameserver of ${g.id}`);
  }
  assert.match(view.hostAddress ?? '', /^127\.0\.0\.13(\/\d+)?$/);
  assert.deepEqual(view.dns.upstream, []);
  assert.equal(view.configDir, inv.configDir);

  assert.equal(caGuestOf(view), 103);
  assert.equal(labCaUrl(view), 'https://127.0.0.10:9000');
  const jwk = view.issuers.get('internal');
  assert.equal(jwk?.type, 'step-ca-jwk');
  assert.equal(jwk?.type === 'step-ca-jwk' && jwk.url, 'https://127.0.0.10:9000');
  assert.equal(jwk?.type === 'step-ca-jwk' && jwk.provisioner, 'admin@thinkheads.ai');
  const acme = view.issuers.get('internal-acme');
  assert.equal(acme?.type === 'acme' && acme.directory, 'https://127.0.0.10:9000/acme/acme/directory');

  for (const c of view.certificates) {
    for (const ip of c.ipAddresses) assert.match(ip, /^127\./, `ip SAN of ${c.name}`);
  }
});

test('no non-loopback IPv4 address survives in the dnsmasq, nginx and traefik output of the lab view', async () => {
  const view = labView(await exampleInventory());
  const outputs = {
    dnsmasq: dnsmasqConfig(view),
    nginx: nginxGatewayConfig(view, {
      part: 'tls',
      webroot: '/var/www/phoenix-acme',
      certPaths: gatewayCertPaths(view),
    }),
    traefik: traefikDynamicConfig(view),
  };
  for (const [name, text] of Object.entries(outputs)) {
    assert.ok(text.length > 0, `${name} output is empty`);
    assert.deepEqual(offenders(text), [], `${name} output has non-loopback addresses`);
  }
  assert.match(outputs.dnsmasq, /host-record=[^\n]*,127\.0\.0\.153/);
  assert.doesNotMatch(outputs.dnsmasq, /^server=/m);
  assert.match(outputs.nginx, /listen 127\.0\.0\.153:443/);
  // The same generators on the real inventory do produce 10.x addresses: the check above has teeth.
  assert.ok(offenders(dnsmasqConfig(await exampleInventory())).length > 0);
});
