import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseHypervisor, codes, vm } from '../../helpers/config-fixture.js';
import { assertAt, lineOf, only } from './helpers.js';

const withShared = (mounts: Record<string, string>) => ({
  ...baseHypervisor(),
  shared_volumes: { ssl_certs: { host_path: '/mnt/pve/quickOS/shared-prod-data/ssl', mounts } },
});

test('a shared volume mounted into a declared container passes', async () => {
  const a = await analyseFixture({ hypervisor: withShared({ '101': '/etc/nginx/ssl' }) });
  assert.deepEqual(
    codes(a).filter((c) => c.startsWith('ref.')),
    [],
  );
});

test('a shared volume mounted into an undeclared guest is a warning that the mount is ignored', async () => {
  const hypervisor = withShared({ '101': '/etc/nginx/ssl', '953': '/etc/nginx/ssl' });
  const a = await analyseFixture({ hypervisor });
  const d = only(a, 'ref.unknown-mount-guest');
  assertAt(d, 'warning', '/shared_volumes/ssl_certs/mounts/953', lineOf(hypervisor, '"953"'));
  assert.match(d.message, /into guest 953, which is not declared; the mount is ignored/);
  assert.deepEqual(codes(a, 'error'), []);
});

test('a shared volume mounted into a VM is a warning: bind mounts reach containers only', async () => {
  const a = await analyseFixture({
    hypervisor: withShared({ '1001': '/certs' }),
    vm: { vms: [vm(1001, 'app', '10.0.0.111')] },
  });
  const d = only(a, 'ref.mount-into-vm');
  assertAt(d, 'warning', '/shared_volumes/ssl_certs/mounts/1001');
  assert.match(d.message, /VM 1001 "app".*ignored/);
});
