import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseHypervisor, codes } from '../../helpers/config-fixture.js';
import { assertAt } from './helpers.js';

const proxmox = (block?: Record<string, unknown>) => ({
  ...baseHypervisor(),
  target: 'proxmox',
  ...(block ? { proxmox: block } : {}),
});
const api = { token_id: 'phoenix@pve!sync', token_secret: 'env:PVE_TOKEN' };

test('target proxmox without a connection block is an error at target', async () => {
  const a = await analyseFixture({ hypervisor: proxmox() });
  const [d] = a.diagnostics.items.filter((x) => x.code === 'proxmox.connection');
  assert.ok(d);
  assertAt(d, 'error', '/target');
});

test('the API transport needs a host and a pinned certificate; the CLI transport needs neither', async () => {
  const noHost = await analyseFixture({
    hypervisor: proxmox({ api: { ...api, fingerprint: 'AB:'.repeat(31) + 'AB' } }),
  });
  assert.match(
    noHost.diagnostics.items.find((x) => x.code === 'proxmox.connection')?.message ?? '',
    /needs "host"/,
  );
  const unpinned = await analyseFixture({ hypervisor: proxmox({ host: 'pve1', api }) });
  const d = unpinned.diagnostics.items.find((x) => x.code === 'proxmox.connection');
  assert.ok(d);
  assertAt(d, 'error', '/proxmox/api');
  assert.match(d.message, /never sent to an unverified server/);
  const pinned = await analyseFixture({
    hypervisor: proxmox({ host: 'pve1', api: { ...api, ca_file: '/etc/phoenix/pve-ca.pem' } }),
  });
  assert.deepEqual(codes(pinned, 'error'), []);
  const cli = await analyseFixture({ hypervisor: proxmox({ transport: 'cli' }) });
  assert.deepEqual(codes(cli, 'error'), []);
});

test('a token id or fingerprint in the wrong shape is a schema error at its field', async () => {
  const a = await analyseFixture({
    hypervisor: proxmox({ host: 'pve1', api: { ...api, token_id: 'phoenix', fingerprint: 'nope' } }),
  });
  const pointers = a.diagnostics.items.filter((x) => x.severity === 'error').map((x) => x.pointer);
  assert.ok(pointers.includes('/proxmox/api/token_id'), pointers.join(' '));
  assert.ok(pointers.includes('/proxmox/api/fingerprint'), pointers.join(' '));
});
