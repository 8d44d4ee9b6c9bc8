import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { PortainerClient, PortainerVerifyError, readStackFile } from '../../src/drivers/portainer/index.js';
import type { PortainerTransport } from '../../src/drivers/portainer/index.js';
import {
  AGENT_TARGET_HEADER,
  deploySwarmStack,
  eligibleNodes,
  ensureVolumeOnNodes,
  injectPlacement,
  listSwarmNodes,
  listVolumesOnNodes,
  parseConstraint,
} from '../../src/drivers/portainer/swarm.js';
import type { SwarmNode } from '../../src/drivers/portainer/swarm.js';
import { startPortainerEmulator } from '../emulators/portainer/index.js';
import type { PortainerEmulator } from '../emulators/portainer/index.js';

/** Swarm stacks and per-node volumes (issue 8) against the Portainer emulator, all on 127.0.0.1. */

const ADMIN = { username: 'admin', password: 'Admin-Secret-9f3c1e77d2' };

const QDRANT = `# vector store
services:
  qdrant:
    image: qdrant/qdrant:latest # pinned by digest elsewhere
    volumes:
      - qdrant_data_nfs:/qdrant/storage
volumes:
  qdrant_data_nfs:
    external: true
`;
const WEB = `services:
  web:
    image: nginx:alpine
  api:
    image: thinkheads_ai_app:latest
`;
const NFS = { name: 'qdrant_data_nfs', driver: 'nfs', server: '10.0.0.5', export: '/srv/qdrant' } as const;
const ON_NFS = ['node.labels.storage==nfs'];

async function withSwarm(
  body: (emu: PortainerEmulator, c: PortainerClient, endpointId: number) => Promise<void>,
) {
  const emu = await startPortainerEmulator({ admin: ADMIN });
  try {
    const endpoint = emu.addEndpoint({
      name: 'swarm',
      url: 'tcp://127.0.0.120:9001',
      type: 2,
      nodes: [
        { hostname: 'mgr1', role: 'manager', labels: { storage: 'nfs' } },
        { hostname: 'wrk1', role: 'worker', labels: { storage: 'nfs', zone: 'b' } },
        { hostname: 'wrk2', role: 'worker', labels: { storage: 'local' } },
      ],
    });
    const c = new PortainerClient({
      baseUrl: emu.url,
      caPem: emu.caPem,
      auth: { kind: 'password', ...ADMIN },
      timeoutMs: 2000,
      retryDelayMs: 5,
    });
    await body(emu, c, endpoint.Id);
  } finally {
    await emu.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail('expected a rejection');
}

const node = (hostname: string, extra: Partial<SwarmNode> = {}): SwarmNode => ({
  id: `id-${hostname}`,
  hostname,
  role: 'worker',
  availability: 'active',
  state: 'ready',
  labels: {},
  engineLabels: {},
  ...extra,
});

// ---- pure parts ---------------------------------------------------------------------------------------------

test('injectPlacement: merges into every service, keeps comments and order, stable when applied twice', () => {
  const compose = `# stack header
services:
  web:
    image: nginx:alpine # the proxy
    deploy:
      replicas: 1
      placement:
        constraints:
          - node.role == manager # keep me
  worker:
    image: app:latest
`;
  const out = injectPlacement(compose, [
    'node.role==manager',
    'node.labels.storage==nfs',
    'node.labels.storage==nfs',
  ]);
  assert.ok(out.includes('# stack header'));
  assert.ok(out.includes('# the proxy'));
  assert.ok(out.includes('# keep me'));
  assert.ok(out.indexOf('web:') < out.indexOf('worker:'));
  const YAML = JSON.parse(JSON.stringify(parseYaml(out))) as {
    services: Record<string, { deploy: { replicas?: number; placement: { constraints: string[] } } }>;
  };
  assert.deepEqual(YAML.services.web!.deploy.placement.constraints, [
    'node.role == manager',
    'node.labels.storage==nfs',
  ]);
  assert.equal(YAML.services.web!.deploy.replicas, 1);
  assert.deepEqual(YAML.services.worker!.deploy.placement.constraints, [
    'node.role==manager',
    'node.labels.storage==nfs',
  ]);
  assert.equal(injectPlacement(out, ['node.labels.storage==nfs']), out);
  assert.equal(injectPlacement(WEB, []), WEB);
  assert.throws(() => injectPlacement(WEB, ['node.labels.storage=nfs']), /node\.labels\.storage=nfs/);
  assert.throws(() => injectPlacement('services: [a]\n', ON_NFS), /no services mapping/);
});

test('constraints: ==, !=, labels, hostname, role, readiness; invalid ones name the constraint', () => {
  const nodes = [
    node('mgr1', { role: 'manager', labels: { storage: 'nfs' } }),
    node('wrk1', { labels: { storage: 'NFS', zone: 'b' }, engineLabels: { os: 'debian' } }),
    node('wrk2', { labels: { storage: 'local' } }),
    node('wrk3', { labels: { storage: 'nfs' }, availability: 'drain' }),
    node('wrk4', { labels: { storage: 'nfs' }, state: 'down' }),
  ];
  const names = (constraints: string[]) => eligibleNodes(nodes, constraints).map((n) => n.hostname);
  assert.deepEqual(names([]), ['mgr1', 'wrk1', 'wrk2']);
  assert.deepEqual(names(['node.labels.storage==nfs']), ['mgr1', 'wrk1']); // values: case-insensitive
  assert.deepEqual(names(['node.labels.storage != nfs']), ['wrk2']);
  assert.deepEqual(names(['node.labels.zone!=b']), ['mgr1', 'wrk2']); // a missing label is ""
  assert.deepEqual(names(['node.labels.Zone==b']), []); // label names are case-sensitive
  assert.deepEqual(names(['node.role==manager']), ['mgr1']);
  assert.deepEqual(names(['node.role!=manager', 'node.labels.storage==nfs']), ['wrk1']);
  assert.deepEqual(names(['node.hostname==wrk2']), ['wrk2']);
  assert.deepEqual(names(['node.id==id-wrk1']), ['wrk1']);
  assert.deepEqual(names(['engine.labels.os==debian']), ['wrk1']);
  for (const [text, why] of [
    ['node.labels.storage=nfs', /expected one operator from ==, !=/],
    ['node.labels.storage==', /value "" is invalid/],
    ['node.labels.storage==a>b', /value "a>b" is invalid/],
    ['9node==x', /key "9node" is invalid/],
    ['node.name==x', /unknown key/],
    ['node.labels.==x', /unknown key/],
    ['node.platform.os==linux', /not supported/],
  ] as const) {
    assert.throws(
      () => parseConstraint(text),
      (err: Error) => err.message.includes(JSON.stringify(text)) && why.test(err.message),
    );
    assert.throws(
      () => eligibleNodes(nodes, [text]),
      (err: Error) => err.message.includes(text),
    );
  }
});

test('client: an extra header is sent, cannot replace the credentials, and its value stays out of errors', async () => {
  const seen: Array<Readonly<Record<string, string>>> = [];
  const transport: PortainerTransport = async (req) => {
    seen.push(req.headers);
    return { status: 200, headers: {}, body: '{"Volumes":[]}' };
  };
  const c = new PortainerClient({
    baseUrl: 'https://127.0.0.1:9443',
    caPem: 'unused',
    auth: { kind: 'apiKey', key: 'ptr_secret_key' },
    transport,
  });
  await c.json('GET', '/api/endpoints/1/docker/volumes', { headers: { [AGENT_TARGET_HEADER]: 'wrk1' } });
  assert.equal(seen[0]!['x-portaineragent-target'], 'wrk1');
  assert.equal(seen[0]!['x-api-key'], 'ptr_secret_key');
  const refused = await rejection(c.call('GET', '/api/status', { headers: { 'X-API-Key': 'other' } }));
  assert.match(refused.message, /cannot be set/);
  const bad = await rejection(c.call('GET', '/api/status', { headers: { 'X-Note': 'sec\r\nret-value' } }));
  assert.ok(!bad.message.includes('ret-value'));
  assert.equal(seen.length, 1, 'a refused header is refused before anything is sent');
});

// ---- against the emulator --------------------------------------------------------------------------------------

test('volumes: created on every eligible node and not elsewhere, read back; a second ensure sends no POST', async () => {
  await withSwarm(async (emu, c, endpointId) => {
    const nodes = await listSwarmNodes(c, endpointId);
    assert.deepEqual(
      nodes.map((n) => [n.hostname, n.role, n.availability, n.state, n.labels.storage]),
      [
        ['mgr1', 'manager', 'active', 'ready', 'nfs'],
        ['wrk1', 'worker', 'active', 'ready', 'nfs'],
        ['wrk2', 'worker', 'active', 'ready', 'local'],
      ],
    );
    const eligible = eligibleNodes(nodes, ON_NFS);
    const first = await ensureVolumeOnNodes(c, endpointId, NFS, eligible);
    assert.deepEqual(
      first.map((r) => [r.hostname, r.created, r.volume.Options?.device]),
      [
        ['mgr1', true, ':/srv/qdrant'],
        ['wrk1', true, ':/srv/qdrant'],
      ],
    );
    const perNode = await listVolumesOnNodes(c, endpointId, nodes);
    assert.deepEqual(
      perNode.map((p) => [p.node.hostname, p.volumes.map((v) => v.Name)]),
      [
        ['mgr1', ['qdrant_data_nfs']],
        ['wrk1', ['qdrant_data_nfs']],
        ['wrk2', []],
      ],
    );
    const posts = emu.mutations().length;
    assert.equal(posts, 2);
    const again = await ensureVolumeOnNodes(c, endpointId, NFS, eligible);
    assert.deepEqual(
      again.map((r) => r.created),
      [false, false],
    );
    assert.equal(emu.mutations().length, posts, 'no POST the second time');
  });
});

test('volumes: a node where the volume exists with other options is named; nothing is replaced', async () => {
  await withSwarm(async (emu, c, endpointId) => {
    emu.addVolume(
      endpointId,
      NFS.name,
      'local',
      { type: 'nfs', o: 'addr=10.0.0.9', device: ':/srv/old' },
      'wrk1',
    );
    const eligible = eligibleNodes(await listSwarmNodes(c, endpointId), ON_NFS);
    const err = await rejection(ensureVolumeOnNodes(c, endpointId, NFS, eligible));
    assert.ok(err instanceof PortainerVerifyError);
    assert.match(err.message, /wrk1: option o is "addr=10\.0\.0\.9", declared "addr=10\.0\.0\.5"/);
    assert.ok(!err.message.includes('mgr1'), 'the manager got the volume');
    assert.equal(emu.mutations().length, 1, 'only the missing one was created');
  });
});

test('stack: created on the swarm with the constraints, services run on eligible nodes; unchanged → no mutation', async () => {
  await withSwarm(async (emu, c, endpointId) => {
    const eligible = eligibleNodes(await listSwarmNodes(c, endpointId), ON_NFS);
    await ensureVolumeOnNodes(c, endpointId, NFS, eligible);
    const spec = { name: 'qdrant_service', endpointId, compose: QDRANT, env: {}, constraints: ON_NFS };
    const created = await deploySwarmStack(c, spec);
    assert.equal(created.action, 'created');
    assert.equal(created.stack.Type, 1);
    assert.equal(created.stack.SwarmId, emu.endpoints.find((e) => e.Id === endpointId)!.swarmId);
    assert.deepEqual(
      created.services.map((s) => [s.service, s.running, s.tasks.map((t) => [t.state, t.node])]),
      [['qdrant', true, [['running', 'mgr1']]]],
    );
    const stored = await readStackFile(c, created.stack.Id);
    assert.equal(stored, injectPlacement(QDRANT, ON_NFS));
    assert.ok(stored.includes('# vector store'));
    const post = emu.log.find((r) => r.path.startsWith('/api/stacks/create/swarm/string'))!;
    assert.deepEqual(post.bodyKeys, ['name', 'swarmID', 'stackFileContent', 'env']);

    const before = emu.mutations().length;
    const again = await deploySwarmStack(c, spec);
    assert.equal(again.action, 'unchanged');
    assert.equal(emu.mutations().length, before, 'no mutating request');

    // Other constraints: an update (PUT), and the task moves to the node they allow.
    const moved = await deploySwarmStack(c, { ...spec, constraints: [...ON_NFS, 'node.role==worker'] });
    assert.equal(moved.action, 'updated');
    assert.deepEqual(
      moved.services[0]!.tasks.map((t) => t.node),
      ['wrk1'],
    );
    assert.ok(emu.mutations().at(-1)!.path.startsWith(`/api/stacks/${created.stack.Id}?`));
  });
});

test('stack: a constraint no node satisfies fails verification with the service and Docker message', async () => {
  await withSwarm(async (_emu, c, endpointId) => {
    const err = await rejection(
      deploySwarmStack(c, {
        name: 'web',
        endpointId,
        compose: WEB,
        env: {},
        constraints: ['node.labels.gpu==yes'],
      }),
    );
    assert.ok(err instanceof PortainerVerifyError);
    assert.match(
      err.message,
      /web \(pending: no suitable node \(scheduling constraints not satisfied on 3 nodes\)\)/,
    );
    assert.match(err.message, /api \(pending: no suitable node/);
  });
});

test('stack: a volume missing on the node the task landed on is reported as a rejected task', async () => {
  await withSwarm(async (emu, c, endpointId) => {
    emu.addVolume(endpointId, NFS.name, 'local', {}, 'wrk1'); // on wrk1 only; the task lands on mgr1
    const err = await rejection(
      deploySwarmStack(c, {
        name: 'qdrant_service',
        endpointId,
        compose: QDRANT,
        env: {},
        constraints: ON_NFS,
      }),
    );
    assert.ok(err instanceof PortainerVerifyError);
    assert.match(err.message, /qdrant \(rejected on mgr1: .*qdrant_data_nfs: volume not found\)/);

    // Swarm retries: the rejected task is shut down and its replacement waits without an error of its own;
    // the reason is then found on the old task.
    const swarm = emu.endpoints.find((e) => e.Id === endpointId)!.swarm!;
    const rejected = swarm.tasks.find((t) => t.State === 'rejected')!;
    rejected.DesiredState = 'shutdown';
    swarm.tasks.push({
      ID: 'retry1',
      ServiceID: rejected.ServiceID,
      NodeID: '',
      DesiredState: 'running',
      State: 'pending',
      Timestamp: new Date().toISOString(),
    });
    const before = emu.mutations().length;
    const again = await rejection(
      deploySwarmStack(c, {
        name: 'qdrant_service',
        endpointId,
        compose: QDRANT,
        env: {},
        constraints: ON_NFS,
      }),
    );
    assert.match(again.message, /qdrant \(pending: .*qdrant_data_nfs: volume not found\)/);
    assert.equal(emu.mutations().length, before, 'the unchanged stack was not sent again');
  });
});

test('stack: an environment that is no swarm manager is refused before anything is sent', async () => {
  await withSwarm(async (emu, c) => {
    const single = emu.addEndpoint({ name: 'single', url: 'tcp://127.0.0.121:9001', type: 2 });
    const err = await rejection(
      deploySwarmStack(c, { name: 'web', endpointId: single.Id, compose: WEB, env: {}, constraints: [] }),
    );
    assert.match(err.message, new RegExp(`environment ${single.Id} is not a swarm manager`));
    assert.equal(emu.mutations().length, 0);
    const nodes = await rejection(listSwarmNodes(c, single.Id));
    assert.match(nodes.message, /not a swarm manager/);
  });
});
