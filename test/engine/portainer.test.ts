import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Diagnostics } from '../../src/config/diagnostics.js';
import type { SecretSource } from '../../src/drivers/secrets/types.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { checkGraph } from '../../src/graph/checks.js';
import type { ResourceGraph, ResourceNode } from '../../src/graph/types.js';
import { startPortainerEmulator, type PortainerEmulator } from '../emulators/portainer/index.js';
import { cleanup, testEngine, type TestEngine } from '../helpers/engine.js';
import { withEmulatedPortainer } from '../helpers/portainer.js';

/**
 * The Docker side of the example through the engine: the memory world (Docker on the VMs, and Portainer
 * answering while its project runs), and the same graph against the Portainer API emulator through the
 * real HTTP driver for Portainer's error shapes.
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const PASSWORD = 'Phoenix-admin-pw-7f3e9c1d';
const AGENT_SECRET = 'phoenix-agent-secret-51ab2d';
const secrets: SecretSource = {
  read: (name) => Promise.resolve(name === 'portainer-admin-password' ? PASSWORD : AGENT_SECRET),
};

const DOCKER_CHAIN = [
  'volume/1001:portainer_data_nfs',
  'stack/1001:portainer_service',
  'portainer/1001',
  'portainer-admin/1001',
  'portainer-env/drphoenix',
  'volume/1002:qdrant_data_nfs',
  'stack/1002:qdrant_service',
];

/** When each node started and ended (indices in the event stream). */
function timeline(events: readonly EngineEvent[]): Map<string, { start: number; end: number }> {
  const t = new Map<string, { start: number; end: number }>();
  events.forEach((e, i) => {
    if (e.type === 'node-start') t.set(e.id, { start: i, end: -1 });
    if (e.type === 'node-end' && t.has(e.id)) t.get(e.id)!.end = i;
  });
  return t;
}

function assertRanAfterRequirements(graph: ResourceGraph, events: readonly EngineEvent[]): void {
  const t = timeline(events);
  for (const [id, span] of t) {
    for (const req of graph.nodes.get(id)?.requires ?? []) {
      const r = t.get(req);
      if (r) assert.ok(r.end < span.start, `${id} started before its requirement ${req} ended`);
    }
  }
}

test('a fresh sync brings the Docker side up in order — volume, server, admin, agent, environment, stacks — and a second changes nothing', async () => {
  const e = await testEngine(EXAMPLE, { secrets });
  try {
    const first = await e.sync();
    assert.equal(
      first.outcome,
      'ok',
      JSON.stringify(e.events.filter((x) => x.type === 'node-end' && x.outcome === 'failed')),
    );
    const t = timeline(e.events);
    for (let i = 1; i < DOCKER_CHAIN.length; i++) {
      const [a, b] = [t.get(DOCKER_CHAIN[i - 1]!)!, t.get(DOCKER_CHAIN[i]!)!];
      assert.ok(a && b && a.end < b.start, `${DOCKER_CHAIN[i - 1]} ends before ${DOCKER_CHAIN[i]} starts`);
    }
    assert.ok(t.get('portainer-agent/1002')!.end < t.get('portainer-env/drphoenix')!.start);
    assertRanAfterRequirements(e.graph, e.events);

    const world = e.mem.world.state;
    assert.equal(e.mem.portainer.adminPasswordIs(PASSWORD), true);
    assert.deepEqual(world.portainer?.environments['drphoenix'], {
      url: 'tcp://10.0.0.102:9001',
      guest: 1002,
    });
    assert.ok(world.guests['1002']!.docker.containers['portainer_agent']?.running);
    assert.ok(world.guests['1002']!.docker.stacks['qdrant_service']);
    assert.ok(world.guests['1001']!.docker.containers['portainer_server']?.running);

    e.events.length = 0;
    const second = await e.sync();
    assert.equal(second.outcome, 'ok');
    assert.equal(second.counts.ok, 0, 'nothing changes on the second sync');
    assert.equal(e.mem.portainer.calls.get('initAdmin'), 1);
    assert.equal(e.mem.portainer.calls.get('ensureEnvironment'), 1);
    assert.equal(e.mem.portainer.calls.get('deployStack'), 2);
  } finally {
    cleanup(e);
  }
});

test("the graph check rejects a plan in which the server's compose project could run before its volume", async () => {
  const e = await testEngine(EXAMPLE);
  try {
    const clean = new Diagnostics();
    checkGraph(e.graph, clean);
    assert.equal(clean.errorCount, 0);
    // The original order: the stack does not wait for the volume a later step creates.
    const nodes = new Map(e.graph.nodes);
    const stack = nodes.get('stack/1001:portainer_service')!;
    const racing: ResourceNode = {
      ...stack,
      requires: stack.requires.filter((r) => r !== 'volume/1001:portainer_data_nfs'),
    };
    nodes.set(racing.id, racing);
    const diags = new Diagnostics();
    checkGraph({ nodes }, diags);
    const found = diags.items.find((d) => d.code === 'graph.order');
    assert.ok(found, 'the race is reported');
    assert.match(found.message, /stack\/1001:portainer_service needs volume\/1001:portainer_data_nfs/);
  } finally {
    cleanup(e);
  }
});

test('a certificate restart of the Portainer container is followed by proving the server answers again', async () => {
  const e = await testEngine(EXAMPLE, { secrets });
  try {
    await e.sync();
    rmSync(join(e.stateDir, 'certs', 'portainer.internal.thinkheads.ai'), { recursive: true });
    e.events.length = 0;
    const renewed = await e.sync();
    assert.equal(renewed.outcomes.get('restart/1001:portainer_server'), 'ok');
    assert.equal(renewed.outcomes.get('portainer/1001'), 'ok');
    const t = timeline(e.events);
    assert.ok(t.get('restart/1001:portainer_server')!.end < t.get('portainer/1001')!.start);
    assert.equal(renewed.outcomes.get('portainer-admin/1001'), 'unchanged');
    assert.equal(renewed.outcomes.get('stack/1002:qdrant_service'), 'unchanged');
  } finally {
    cleanup(e);
  }
});

/** The example against the emulator: memory world for the VMs, the HTTP driver for Portainer. */
async function withEmulator(
  fn: (e: TestEngine, emu: PortainerEmulator) => Promise<void>,
  tune: { timeoutMs?: number } = {},
): Promise<void> {
  const emu = await startPortainerEmulator();
  const e = await testEngine(EXAMPLE, {
    secrets,
    drivers: withEmulatedPortainer(emu, secrets, {
      retries: 1,
      retryDelayMs: 10,
      ...(tune.timeoutMs ? { timeoutMs: tune.timeoutMs } : {}),
    }),
  });
  try {
    await fn(e, emu);
  } finally {
    cleanup(e);
    await emu.close();
  }
}

const failure = (e: TestEngine, id: string) => {
  const end = e.events.find((x) => x.type === 'node-end' && x.id === id);
  return end?.type === 'node-end' ? { outcome: end.outcome, error: end.error ?? '' } : undefined;
};

test('against the Portainer API emulator: everything is created through the documented API, then nothing is sent again', async () => {
  await withEmulator(async (e, emu) => {
    const first = await e.sync();
    assert.equal(
      first.outcome,
      'ok',
      JSON.stringify(e.events.filter((x) => x.type === 'node-end' && x.outcome === 'failed')),
    );
    assert.equal(emu.admin?.username, 'admin');
    const env = emu.endpoints.find((x) => x.Name === 'drphoenix');
    assert.equal(env?.URL, 'tcp://10.0.0.102:9001');
    assert.deepEqual([...env!.volumes.keys()].sort(), ['qdrant_data_nfs', 'thinkheads_ai_app_data_nfs']);
    assert.deepEqual(emu.stacks.map((s) => s.Name).sort(), ['qdrant_service', 'thinkheads_ai_app']);
    // Traefik labels from phoenix.json are in the deployed file.
    const qdrant = emu.stacks.find((s) => s.Name === 'qdrant_service')!;
    assert.match(qdrant.file, /traefik\.enable=true/);
    const created = emu.log.filter((r) => r.method !== 'GET' && r.path !== '/api/auth').length;

    const second = await e.sync();
    assert.equal(second.counts.ok, 0);
    const again = emu.log.filter((r) => r.method !== 'GET' && r.path !== '/api/auth').length;
    assert.equal(again, created, 'the second sync sends no mutating request');
    // The password went only into the init and login bodies; it is in no event, journal row or log entry.
    const journal = readFileSync(join(e.stateDir, 'journal.sqlite')).toString('latin1');
    for (const where of [JSON.stringify(e.events), journal, JSON.stringify(emu.log)]) {
      assert.ok(!where.includes(PASSWORD), 'admin password leaked');
      assert.ok(!where.includes(AGENT_SECRET), 'agent secret leaked');
    }
  });
});

for (const c of [
  {
    status: 401,
    message: 'Invalid JWT token',
    path: /^\/api\/stacks(\?.*)?$/,
    method: 'GET',
    node: 'stack/1002:qdrant_service',
  },
  {
    status: 409,
    message: 'Name is not unique',
    path: '/api/endpoints',
    method: 'POST',
    node: 'portainer-env/drphoenix',
  },
  {
    status: 422,
    message: 'Invalid request payload',
    path: /\/api\/stacks\/create/,
    method: 'POST',
    node: 'stack/1002:qdrant_service',
  },
  {
    status: 500,
    message: 'failed to deploy a stack: compose up failed',
    path: /\/api\/stacks\/create/,
    method: 'POST',
    node: 'stack/1002:qdrant_service',
  },
] as const) {
  test(`Portainer answering ${c.status} fails ${c.node} with its message, and what depends on it is skipped`, async () => {
    await withEmulator(async (e, emu) => {
      emu.faults.push({
        kind: 'status',
        method: c.method,
        path: c.path,
        status: c.status,
        message: c.message,
        times: 100,
      });
      const run = await e.sync();
      assert.equal(run.outcome, 'failed');
      const f = failure(e, c.node);
      assert.equal(f?.outcome, 'failed');
      assert.match(f!.error, new RegExp(`${c.status}: ${c.message}`));
      for (const [id, node] of e.graph.nodes) {
        if (node.requires.includes(c.node)) assert.equal(run.outcomes.get(id), 'skipped', `${id} skipped`);
      }
      assert.equal(run.outcomes.get('stack/1001:portainer_service'), 'ok', 'independent work goes on');
    });
  });
}

test('a Portainer that stops answering in time fails the node with a timeout, its dependents skipped', async () => {
  await withEmulator(
    async (e, emu) => {
      emu.faults.push({ kind: 'slow', method: 'POST', path: '/api/endpoints', ms: 2_000, times: 100 });
      const run = await e.sync();
      const f = failure(e, 'portainer-env/drphoenix');
      assert.equal(f?.outcome, 'failed');
      assert.match(f!.error, /POST \/api\/endpoints: no answer within 300 ms/);
      assert.equal(run.outcomes.get('stack/1002:qdrant_service'), 'skipped');
      assert.equal(run.outcomes.get('volume/1002:qdrant_data_nfs'), 'skipped');
    },
    { timeoutMs: 300 },
  );
});

test("Portainer's missed initialisation window is explained, and nothing after it runs", async () => {
  await withEmulator(async (e, emu) => {
    emu.expireInitWindow();
    const run = await e.sync();
    const f = failure(e, 'portainer-admin/1001');
    assert.equal(f?.outcome, 'failed');
    assert.match(f!.error, /initialisation window/);
    assert.equal(run.outcomes.get('portainer-env/drphoenix'), 'skipped');
  });
});

test('a stack whose service exits after the deploy fails with the service named; the next sync tries again', async () => {
  await withEmulator(async (e, emu) => {
    emu.failingServices.add('qdrant_service/qdrant');
    const run = await e.sync();
    const f = failure(e, 'stack/1002:qdrant_service');
    assert.equal(f?.outcome, 'failed');
    assert.match(f!.error, /qdrant/);
    assert.equal(run.outcomes.get('stack/1002:thinkheads_ai_app'), 'ok', 'the other stack is independent');
    emu.failingServices.clear();
    const again = await e.sync();
    assert.equal(again.outcomes.get('stack/1002:qdrant_service'), 'ok');
  });
});

test('a stack whose container stopped is redeployed with the same content and then runs', async () => {
  await withEmulator(async (e, emu) => {
    assert.equal((await e.sync()).outcome, 'ok');
    const env = emu.endpoints.find((x) => x.Name === 'drphoenix')!;
    emu.stopService(env.Id, 'qdrant_service', 'qdrant');
    const puts = () => emu.log.filter((r) => r.method === 'PUT').length;
    const before = puts();
    const again = await e.sync();
    assert.equal(again.outcomes.get('stack/1002:qdrant_service'), 'ok');
    assert.equal(puts(), before + 1, 'one update with the unchanged file');
    assert.ok(
      env.containers.filter((c) => c.project === 'qdrant_service').every((c) => c.state === 'running'),
    );
  });
});

test('a Portainer that serves another certificate than the one Phoenix issued is found by plan', async () => {
  const e = await testEngine(EXAMPLE, { secrets });
  try {
    await e.sync();
    // A container still serving something else than the installed pair (as if never restarted onto it).
    const server = e.mem.world.state.guests['1001']!.docker.containers['portainer_server']!;
    e.mem.world.mutate(() => {
      server.binds = [
        ...(server.binds ?? []),
        { type: 'bind', source: '/usr/local/share/ca-certificates', target: '/ca', readOnly: true },
      ];
      server.command = ['--sslcert', '/ca/phoenix-internal-root.crt'];
    });
    const plan = await e.plan();
    const check = plan.nodes.find((x) => x.id === 'portainer/1001');
    assert.equal(check?.action, 'update');
    assert.match(check?.reason ?? '', /serves certificate serial [0-9A-F]+, Phoenix issued [0-9A-F]+/);
    assert.equal(
      plan.nodes.find((x) => x.id === 'file/1001:/persistent-storage/portainer/certs/portainer.crt')?.action,
      'noop',
    );
  } finally {
    cleanup(e);
  }
});
