import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseLxc, codes, lxc } from '../../helpers/config-fixture.js';
import { assertAt, only } from './helpers.js';

const app = lxc('app', '10.0.0.44', { traefik_service: { name: 'app', port: 8080 } });

test('a gateway routing names with no Traefik guest is an error at the gateway', async () => {
  const a = await analyseFixture({ lxc: { lxc_configs: { ...baseLxc().lxc_configs, '104': app } } });
  const d = only(a, 'network.no-mesh');
  assertAt(d, 'error', '/lxc_configs/101/features');
  assert.match(d.message, /LXC 101 "gateway" is the gateway and routes app\.internal\.example/);
  assert.match(d.message, /no guest has feature "traefik"/);
});

test('a Traefik guest without a static address does not count, and the message says why', async () => {
  const mesh = lxc('traefik', '10.0.0.12', { features: ['traefik'] });
  (mesh.network_config as Record<string, unknown>).ip = 'dhcp';
  const a = await analyseFixture({
    lxc: { lxc_configs: { ...baseLxc().lxc_configs, '102': mesh, '104': app } },
  });
  assert.match(
    only(a, 'network.no-mesh').message,
    /LXC 102 "traefik" has feature "traefik" but no static address/,
  );
});

test('with an addressed Traefik guest, or with nothing routed, there is no error', async () => {
  const mesh = lxc('traefik', '10.0.0.12', { features: ['traefik'] });
  const withMesh = await analyseFixture({
    lxc: { lxc_configs: { ...baseLxc().lxc_configs, '102': mesh, '104': app } },
  });
  assert.deepEqual(codes(withMesh, 'error'), []);
  const nothingRouted = await analyseFixture({ lxc: baseLxc() });
  assert.deepEqual(codes(nothingRouted, 'error'), []);
});
