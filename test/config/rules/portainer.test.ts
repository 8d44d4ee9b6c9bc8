import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseHypervisor, baseLxc, codes, find, vm } from '../../helpers/config-fixture.js';

const server =
  'services:\n  portainer:\n    image: portainer/portainer-ce:2.21.0\n    container_name: portainer_server\n';
const app = 'services:\n  app:\n    image: example/app:1\n';
const stacks = {
  portainer_service: { config: { environments: { production: {} } }, compose: server },
  app: { config: { environments: { production: {} } }, compose: app },
  swarmed: {
    config: { environments: { production: {} }, deploy: { mode: 'swarm', placement: ['node.role==worker'] } },
    compose: app,
  },
};
const hypervisor = {
  ...baseHypervisor(),
  portainer_api: { admin_user: 'admin', admin_password: 'env:A', agent_secret: 'env:B' },
};
const fixture = (vms: unknown[], h: unknown = hypervisor) =>
  analyseFixture({ lxc: baseLxc(), vm: { vms }, stacks, hypervisor: h });

test('a primary with the server stack and an agent with a stack pass', async () => {
  const a = await fixture([
    vm(1001, 'portainer', '10.0.0.111', { portainer_role: 'primary', docker_stacks: ['portainer_service'] }),
    vm(1002, 'docker', '10.0.0.102', { portainer_role: 'agent', docker_stacks: ['app', 'swarmed'] }),
  ]);
  assert.deepEqual(codes(a, 'error'), []);
  assert.deepEqual(
    codes(a, 'warning').filter((c) => c.startsWith('portainer')),
    [],
  );
  assert.ok(a.graph?.nodes.has('portainer-env/docker'));
});

test('two primaries, a primary without the server, a stack on a VM Portainer does not reach', async () => {
  const a = await fixture([
    vm(1001, 'one', '10.0.0.111', { portainer_role: 'primary', docker_stacks: ['app'] }),
    vm(1003, 'two', '10.0.0.113', { portainer_role: 'primary', docker_stacks: ['portainer_service'] }),
    vm(1002, 'loose', '10.0.0.102', { docker_stacks: ['app'] }),
  ]);
  assert.equal(find(a, 'portainer.two-primaries').length, 1);
  assert.match(find(a, 'portainer.no-server')[0]?.message ?? '', /VM 1001.*portainer\/portainer-ce/);
  const unreached = find(a, 'portainer.no-environment').map((d) => d.message);
  assert.ok(
    unreached.some((m) => /VM 1002 "loose" deploys stack "app".*portainer_role/.test(m)),
    unreached.join('\n'),
  );
});

test('agent names are unique and not "primary"; a swarm stack cannot be the server itself; no secret warns', async () => {
  const a = await fixture(
    [
      vm(1001, 'portainer', '10.0.0.111', {
        portainer_role: 'primary',
        docker_stacks: ['portainer_service', 'app'],
      }),
      vm(1002, 'a', '10.0.0.102', { portainer_role: 'agent', portainer_environment_name: 'primary' }),
      vm(1003, 'b', '10.0.0.103', { portainer_role: 'agent', portainer_environment_name: 'same' }),
      vm(1004, 'c', '10.0.0.104', { portainer_role: 'agent', portainer_environment_name: 'same' }),
    ],
    { ...baseHypervisor(), portainer_api: { admin_user: 'admin' } },
  );
  const names = find(a, 'portainer.environment-name').map((d) => d.message);
  assert.equal(names.length, 2);
  assert.ok(names.some((m) => /Portainer's own local environment/.test(m)));
  assert.ok(names.some((m) => /both register as Portainer environment "same"/.test(m)));
  assert.equal(find(a, 'portainer.agent-secret').length, 1);
  // The primary's other stack goes to Portainer's local environment.
  assert.ok(a.graph?.nodes.has('portainer-env/primary'));
});
