import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, codes, find } from '../../helpers/config-fixture.js';
import { assertAt, legacyGatewayEntry, lineOf, lxcWithSslMount, only } from './helpers.js';

const gatewayInstall = (keyMode = '0640') => [
  {
    guest: 101,
    key: { path: '/etc/nginx/ssl/gw.key', owner: 'root', group: 'www-data', mode: keyMode },
    cert: { path: '/etc/nginx/ssl/gw.crt', mode: '0644' },
  },
];
const entry = (extra: Record<string, unknown> = {}) => ({
  common_name: 'gw.internal.example',
  sans: ['gw.internal.example', '*.internal.example', 'localhost'],
  ip_sans: ['10.0.0.153', '10.0.0.13', '127.0.0.1'],
  install: gatewayInstall(),
  follow_up: { type: 'reload-service', guest: 101, service: 'nginx' },
  ...extra,
});
const manifest = (...entries: unknown[]) => ({ certificates: entries });
const certCodes = (a: Awaited<ReturnType<typeof analyseFixture>>) =>
  codes(a).filter((c) => c.startsWith('cert.'));

test('names in the domain, addresses of guests or the host, a private key and a local reload pass', async () => {
  const a = await analyseFixture({ certificates: manifest(entry()) });
  assert.deepEqual(certCodes(a), []);
  assert.deepEqual(codes(a, 'error'), []);
});

test('a DNS name outside the domain is a warning at that SAN', async () => {
  const certificates = manifest(entry({ sans: ['gw.internal.example', 'gw.example.com'] }));
  const a = await analyseFixture({ certificates });
  const d = only(a, 'cert.san-outside-domain');
  assertAt(d, 'warning', '/certificates/0/sans/1', lineOf(certificates, '"gw.example.com"'));
  assert.match(d.message, /"gw\.example\.com", which is outside the domain internal\.example/);
});

test('an IP address that belongs to no guest and is not the host is a warning', async () => {
  const certificates = manifest(entry({ ip_sans: ['10.0.0.153', '10.0.0.99'] }));
  const a = await analyseFixture({ certificates });
  const d = only(a, 'cert.ip-san-unknown');
  assertAt(d, 'warning', '/certificates/0/ip_sans/1', lineOf(certificates, '"10.0.0.99"'));
});

test('a server certificate without an install target is a warning; a client certificate is not', async () => {
  const certificates = manifest(
    { common_name: 'orphan.internal.example' },
    { common_name: 'client.internal.example', usage: 'client' },
  );
  const a = await analyseFixture({ certificates });
  const d = only(a, 'cert.not-installed');
  assertAt(d, 'warning', '/certificates/0');
  assert.match(
    d.message,
    /server certificate "orphan\.internal\.example" has no install target, so nothing will use it/,
  );
});

test('a key mode that gives "other" any permission is a warning at the mode', async () => {
  const certificates = manifest(entry({ install: gatewayInstall('0644') }));
  const a = await analyseFixture({ certificates });
  const d = only(a, 'cert.key-readable-by-others');
  assertAt(d, 'warning', '/certificates/0/install/0/key/mode', lineOf(certificates, '"0644"'));
  assert.match(d.message, /101:\/etc\/nginx\/ssl\/gw\.key\) gets mode 0644/);
});

test('in a legacy entry the key mode warning points at "permissions"', async () => {
  const certificates = [legacyGatewayEntry('pct exec 101 -- systemctl reload nginx', { permissions: '644' })];
  const a = await analyseFixture({ lxc: lxcWithSslMount(), certificates });
  const d = only(a, 'cert.key-readable-by-others');
  assertAt(d, 'warning', '/0/permissions', lineOf(certificates, '"permissions"'));
  assert.match(d.message, /"permissions" applies to the key and the certificate alike/);
});

test('a reload in a guest where the certificate installs nothing is a warning', async () => {
  const certificates = manifest(
    entry({ follow_up: { type: 'reload-service', guest: 103, service: 'step-ca' } }),
  );
  const a = await analyseFixture({ certificates });
  const d = only(a, 'cert.follow-up-elsewhere');
  assertAt(d, 'warning', '/certificates/0/follow_up/guest');
  assert.match(
    d.message,
    /reloads step-ca in LXC 103 "step-ca", but installs no file there \(it installs into LXC 101 "gateway"\)/,
  );
  assert.equal(find(a, 'cert.follow-up-elsewhere').length, 1);
});
