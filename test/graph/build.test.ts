import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseFixture, baseLxc, codes, find, lxc, vm } from '../helpers/config-fixture.js';
import { executionOrder } from '../../src/graph/order.js';
import type { ResourceGraph } from '../../src/graph/types.js';

const compose = (container: string, volume: string) =>
  `services:\n  app:\n    image: example/app:1\n    container_name: ${container}\n    volumes:\n      - ${volume}:/data\nvolumes:\n  ${volume}:\n    external: true\n`;

function requires(graph: ResourceGraph | undefined, id: string): string[] {
  const node = graph?.nodes.get(id);
  assert.ok(node, `expected node ${id}`);
  return [...node.requires].sort();
}

const dockerVms = {
  vms: [
    vm(9000, 'tmpl', '10.0.0.90', { is_template: true }),
    vm(1001, 'portainer', '10.0.0.111', {
      clone_from_vmid: 9000,
      dependencies: ['101'],
      docker_stacks: ['portainer_service'],
    }),
  ],
};
const portainerStack = {
  portainer_service: {
    config: { environments: { production: {} }, volumes: { portainer_data: { driver: 'local' } } },
    compose: compose('portainer_server', 'portainer_data'),
  },
};

test('guests require their clone source and dependencies', async () => {
  const a = await analyseFixture({ vm: dockerVms, stacks: portainerStack });
  assert.deepEqual(codes(a, 'error'), []);
  assert.deepEqual(requires(a.graph, 'guest/1001'), ['guest/101', 'guest/9000']);
  assert.deepEqual(requires(a.graph, 'guest/101'), ['guest/103']);
});

test('a stack requires its guest and its external volumes; the volume requires the guest', async () => {
  const a = await analyseFixture({ vm: dockerVms, stacks: portainerStack });
  assert.deepEqual(requires(a.graph, 'stack/1001:portainer_service'), [
    'guest/1001',
    'volume/1001:portainer_data',
  ]);
  assert.deepEqual(requires(a.graph, 'volume/1001:portainer_data'), ['guest/1001']);
});

test('a container restart waits for the stack that creates the container (failure 2 of the analysis)', async () => {
  const certificates = {
    issuers: {
      ca: {
        type: 'step-ca-jwk',
        url: 'https://ca.internal.example:9000',
        provisioner: 'admin',
        password: 'env:PW',
      },
    },
    certificates: [
      {
        common_name: 'portainer.internal.example',
        install: [{ guest: 1001, key: { path: '/srv/certs/p.key' }, cert: { path: '/srv/certs/p.crt' } }],
        follow_up: { type: 'restart-container', guest: 1001, container: 'portainer_server' },
      },
    ],
  };
  const a = await analyseFixture({ vm: dockerVms, stacks: portainerStack, certificates });
  assert.deepEqual(codes(a, 'error'), []);
  const restart = 'restart/1001:portainer_server';
  assert.deepEqual(requires(a.graph, restart), [
    'file/1001:/srv/certs/p.crt',
    'file/1001:/srv/certs/p.key',
    'guest/1001',
    'stack/1001:portainer_service',
  ]);
  assert.deepEqual([...a.graph!.nodes.get(restart)!.triggers].sort(), [
    'file/1001:/srv/certs/p.crt',
    'file/1001:/srv/certs/p.key',
  ]);
  const order = executionOrder(a.graph!);
  for (const before of [
    'volume/1001:portainer_data',
    'stack/1001:portainer_service',
    'file/1001:/srv/certs/p.key',
  ]) {
    assert.ok(order.indexOf(before) < order.indexOf(restart), `${before} must come before ${restart}`);
  }
  assert.deepEqual(requires(a.graph, 'cert/portainer.internal.example'), ['issuer/ca']);
  assert.deepEqual(requires(a.graph, 'issuer/ca'), ['guest/103']);
});

test('restarting a container that no stack on that guest creates is an unprovided requirement', async () => {
  const certificates = [
    {
      common_name: 'portainer.internal.example',
      cert_path: '/mnt/certs/p.crt',
      key_path: '/mnt/certs/p.key',
      post_renewal_command: 'qm guest exec 1001 -- docker restart portainer_agent',
    },
  ];
  const a = await analyseFixture({ vm: dockerVms, stacks: portainerStack, certificates });
  const [d] = find(a, 'graph.unprovided');
  assert.ok(d, 'expected graph.unprovided');
  assert.match(d.message, /container "portainer_agent" on guest 1001/);
  assert.equal(d.pointer, '/0/post_renewal_command');
});

test('a reload is one node per service, requiring every file of every certificate that triggers it', async () => {
  const cert = (cn: string, file: string) => ({
    common_name: cn,
    install: [
      {
        guest: 101,
        key: { path: `/etc/nginx/ssl/${file}.key`, group: 'www-data', mode: '0640' },
        cert: { path: `/etc/nginx/ssl/${file}.crt` },
      },
    ],
    follow_up: { type: 'reload-service', guest: 101, service: 'nginx' },
  });
  const certificates = {
    issuers: {
      ca: {
        type: 'step-ca-jwk',
        url: 'https://ca.internal.example:9000',
        provisioner: 'admin',
        password: 'env:PW',
      },
    },
    certificates: [cert('a.internal.example', 'a'), cert('b.internal.example', 'b')],
  };
  const a = await analyseFixture({ certificates });
  assert.deepEqual(codes(a, 'error'), []);
  assert.deepEqual(requires(a.graph, 'reload/101:nginx'), [
    'file/101:/etc/nginx/ssl/a.crt',
    'file/101:/etc/nginx/ssl/a.key',
    'file/101:/etc/nginx/ssl/b.crt',
    'file/101:/etc/nginx/ssl/b.key',
    'gateway/101',
    'guest/101',
  ]);
});

test('two certificates writing one file are refused, naming both', async () => {
  const certificates = {
    issuers: {
      ca: {
        type: 'step-ca-jwk',
        url: 'https://ca.internal.example:9000',
        provisioner: 'admin',
        password: 'env:PW',
      },
    },
    certificates: [
      {
        common_name: 'a.internal.example',
        install: [{ guest: 101, key: { path: '/etc/ssl/x.key' }, cert: { path: '/etc/ssl/a.crt' } }],
      },
      {
        common_name: 'b.internal.example',
        install: [{ guest: 101, key: { path: '/etc/ssl/x.key' }, cert: { path: '/etc/ssl/b.crt' } }],
      },
    ],
  };
  const a = await analyseFixture({ certificates });
  const [d] = find(a, 'owner.duplicate');
  assert.ok(d);
  assert.match(d.message, /101:\/etc\/ssl\/x\.key is also written by certificate "a\.internal\.example"/);
  assert.equal(d.pointer, '/certificates/1/install/0/key');
});

test('one file reached twice, once through a bind mount and once on the host, has two writers', async () => {
  const lxcs = baseLxc();
  (lxcs.lxc_configs['101'] as Record<string, unknown>).mount_points = [
    { host_path: '/srv/gw-ssl', container_path: '/etc/nginx/ssl' },
  ];
  const certificates = {
    issuers: {
      ca: {
        type: 'step-ca-jwk',
        url: 'https://ca.internal.example:9000',
        provisioner: 'admin',
        password: 'env:PW',
      },
    },
    certificates: [
      {
        common_name: 'a.internal.example',
        install: [
          { guest: 101, key: { path: '/etc/nginx/ssl/a.key' }, cert: { path: '/etc/nginx/ssl/a.crt' } },
        ],
      },
      {
        common_name: 'b.internal.example',
        install: [{ guest: 'host', key: { path: '/srv/gw-ssl/a.key' }, cert: { path: '/srv/b.crt' } }],
      },
    ],
  };
  const a = await analyseFixture({ lxc: lxcs, certificates });
  const [d] = find(a, 'owner.duplicate');
  assert.ok(d, 'expected owner.duplicate');
  assert.match(d.message, /both write .*host path \/srv\/gw-ssl\/a\.key/);
});

test('a dependency cycle is printed as the chain that closes it', async () => {
  const lxcs = {
    lxc_configs: {
      '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'], dependencies: ['102'] }),
      '101': lxc('gateway', '10.0.0.153', { dependencies: ['103'] }),
      '102': lxc('mesh', '10.0.0.12', { dependencies: ['101'] }),
    },
  };
  const a = await analyseFixture({ lxc: lxcs });
  const cycles = find(a, 'graph.cycle');
  assert.equal(cycles.length, 1);
  assert.equal(cycles[0]!.message, 'dependency cycle: guest/101 → guest/103 → guest/102 → guest/101');
});

test('an explicit requirement on something nothing creates is reported with a suggestion', async () => {
  const certificates = {
    issuers: {
      ca: {
        type: 'step-ca-jwk',
        url: 'https://ca.internal.example:9000',
        provisioner: 'admin',
        password: 'env:PW',
      },
    },
    certificates: [{ common_name: 'a.internal.example', requires: ['guest/1031'] }],
  };
  const a = await analyseFixture({ certificates });
  const [d] = find(a, 'graph.unprovided');
  assert.ok(d);
  assert.match(
    d.message,
    /cert\/a\.internal\.example requires guest\/1031, which nothing in the configuration creates \(did you mean guest\/103/,
  );
});

test('the execution order puts every requirement first and is stable', async () => {
  const a = await analyseFixture({ vm: dockerVms, stacks: portainerStack });
  const order = executionOrder(a.graph!);
  assert.equal(order.length, a.graph!.nodes.size);
  const pos = new Map(order.map((id, i) => [id, i]));
  for (const node of a.graph!.nodes.values()) {
    for (const r of node.requires) assert.ok(pos.get(r)! < pos.get(node.id)!, `${r} before ${node.id}`);
  }
  assert.deepEqual(executionOrder(a.graph!), order);
});
