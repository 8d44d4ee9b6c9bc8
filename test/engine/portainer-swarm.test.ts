import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { SecretSource } from '../../src/drivers/secrets/types.js';
import { startPortainerEmulator } from '../emulators/portainer/index.js';
import { analyseFixture, baseLxc, codes, vm, writeFixture } from '../helpers/config-fixture.js';
import { cleanup, testEngine } from '../helpers/engine.js';
import { withEmulatedPortainer } from '../helpers/portainer.js';

/**
 * A stack that targets a swarm: its volume on every node its placement allows, its services scheduled
 * there, through Portainer's swarm API (the emulator's swarm: three nodes, two labelled for the stack).
 */

const secrets: SecretSource = { read: (n) => Promise.resolve(`swarm-test-secret-${n}-0123456789`) };

const serverCompose =
  'services:\n  portainer:\n    image: portainer/portainer-ce:2.21.0\n    container_name: portainer_server\n    volumes:\n      - portainer_data:/data\nvolumes:\n  portainer_data:\n    external: true\n';
const appCompose =
  'services:\n  api:\n    image: example/api:1\n    volumes:\n      - app_data:/data\nvolumes:\n  app_data:\n    external: true\n';

function fixture(placement: string[]): Parameters<typeof writeFixture>[0] {
  return {
    lxc: baseLxc(),
    vm: {
      vms: [
        vm(1001, 'portainer', '10.0.0.111', {
          portainer_role: 'primary',
          start_at_boot: true,
          docker_stacks: ['portainer_service'],
        }),
        vm(1002, 'manager', '10.0.0.102', {
          portainer_role: 'agent',
          start_at_boot: true,
          docker_stacks: ['app'],
        }),
      ],
    },
    hypervisor: {
      domain_name: 'internal.example',
      target: 'lab',
      network: { interfaces: { name: 'vmbr0', address: '10.0.0.13/24', gateway: '10.0.0.1' } },
      step_ca: { guest: 103, provisioner_name: 'admin@internal.example' },
      portainer_api: { admin_user: 'admin', admin_password: 'env:X_UNUSED', agent_secret: 'env:Y_UNUSED' },
    },
    stacks: {
      portainer_service: {
        config: { environments: { production: {} } },
        compose: serverCompose,
      },
      app: {
        config: { environments: { production: {} }, deploy: { mode: 'swarm', placement } },
        compose: appCompose,
      },
    },
  };
}

test('validation: placement constraints need == or !=, and the fixture is otherwise valid', async () => {
  assert.deepEqual(codes(await analyseFixture(fixture(['node.labels.app==true'])), 'error'), []);
  const bad = await analyseFixture(fixture(['node.labels.app=true']));
  const found = bad.diagnostics.items.find((d) => d.severity === 'error');
  assert.ok(found && /\/deploy\/placement\/0/.test(found.pointer), JSON.stringify(found));
});

test('a swarm stack: volumes on every eligible node, services placed there, a second sync sends nothing', async () => {
  const dir = writeFixture(fixture(['node.labels.app==true']));
  const emu = await startPortainerEmulator({
    admin: { username: 'admin', password: await secrets.read('portainer-admin-password') },
  });
  const seeded = emu.addEndpoint({
    name: 'manager',
    url: 'tcp://10.0.0.102:9001',
    type: 2,
    swarmId: 'kq3hb0jzc5vw6s0fnvrbuxl1e',
    nodes: [
      { hostname: 'mgr', role: 'manager', labels: {} },
      { hostname: 'w1', role: 'worker', labels: { app: 'true' } },
      { hostname: 'w2', role: 'worker', labels: { app: 'true' } },
    ],
  } as Parameters<typeof emu.addEndpoint>[0]);
  seeded.TLSConfig = { TLS: true, TLSSkipVerify: true }; // as an agent environment is registered
  const e = await testEngine(dir, {
    secrets,
    drivers: withEmulatedPortainer(emu, secrets),
  });
  try {
    const first = await e.sync();
    const failed = e.events.filter(
      (x) => x.type === 'node-end' && x.outcome !== 'ok' && x.outcome !== 'unchanged',
    );
    assert.equal(first.outcome, 'ok', JSON.stringify(failed));
    const endpoint = emu.endpoints.find((x) => x.Name === 'manager')!;
    const stack = emu.stacks.find((s) => s.Name === 'app')!;
    assert.equal(stack.Type, 1, 'a swarm stack');
    assert.match(stack.file, /node\.labels\.app==true/);
    const swarm = endpoint.swarm!;
    const byName = (h: string) => swarm.nodes.find((n) => n.hostname === h)!;
    assert.ok(byName('w1').volumes['app_data'] && byName('w2').volumes['app_data'], 'on both eligible nodes');
    assert.equal(byName('mgr').volumes['app_data'], undefined, 'not on the node the placement excludes');
    assert.ok(!endpoint.volumes.has('app_data'));
    const running = swarm.tasks
      .filter((t) => t.State === 'running')
      .map((t) => swarm.nodes.find((n) => n.ID === t.NodeID)?.hostname);
    assert.ok(
      running.length > 0 && running.every((h) => h === 'w1' || h === 'w2'),
      `placed on ${running.join(',')}`,
    );
    assert.equal(first.outcomes.get('volume/1002:app_data'), 'ok');

    const mutations = () => emu.log.filter((r) => r.method !== 'GET' && r.path !== '/api/auth').length;
    const before = mutations();
    const second = await e.sync();
    assert.equal(second.counts.ok, 0);
    assert.equal(mutations(), before);
  } finally {
    cleanup(e);
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
