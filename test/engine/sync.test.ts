import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceKind } from '../../src/graph/types.js';
import { deleteGraph, powerGraph } from '../../src/engine/verbs.js';
import { cleanup, testEngine, type TestEngine } from '../helpers/engine.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

function mutations(e: TestEngine): number {
  return e.mem.hypervisor.mutations + e.mem.containers.mutations + e.mem.issuer.mutations;
}

test('a fresh sync of the example creates and verifies everything; a second sync changes nothing', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    const first = await e.sync();
    assert.equal(
      first.outcome,
      'ok',
      JSON.stringify(e.events.filter((x) => x.type === 'node-end' && x.outcome === 'failed')),
    );
    assert.equal(first.counts.failed + first.counts.skipped, 0);
    assert.ok(first.counts.ok > 30, `expected most resources to be created, got ${first.counts.ok}`);
    const before = mutations(e);
    const second = await e.sync();
    assert.equal(second.outcome, 'ok');
    assert.equal(second.counts.ok, 0, 'nothing to do the second time');
    assert.equal(second.counts.unchanged, e.graph.nodes.size);
    assert.equal(mutations(e), before, 'zero mutating driver calls in a no-op sync');
    const plan = await e.plan();
    assert.deepEqual(
      plan.nodes.filter((n) => n.action !== 'noop').map((n) => `${n.id}: ${n.reason}`),
      [],
    );
  } finally {
    cleanup(e);
  }
});

test('plan performs no mutation for any resource kind, even when every kind has work to do', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    // Make every kind want to act: drift a guest, remove files, a volume-less stack, stale configs.
    await e.mem.hypervisor.updateGuest(101, { memoryMb: 1 });
    for (const s of Object.values(e.mem.world.state.guests))
      for (const f of Object.keys(s.files)) delete s.files[f];
    for (const f of Object.keys(e.mem.world.state.host.files)) delete e.mem.world.state.host.files[f];
    e.mem.world.state.guests['1002']!.docker.stacks = {};
    e.mem.world.state.guests['1002']!.docker.volumes = {};
    const portainerCert = join(e.stateDir, 'certs', 'portainer.internal.thinkheads.ai');
    rmSync(portainerCert, { recursive: true });
    const before = mutations(e);
    const plan = await e.plan();
    const acting = new Set(plan.nodes.filter((n) => n.action !== 'noop').map((n) => n.kind));
    for (const kind of [
      'guest',
      'cert',
      'restart',
      'file',
      'reload',
      'volume',
      'stack',
      'dns',
      'firewall',
      'gateway',
      'mesh',
      'trust',
    ] as ResourceKind[]) {
      assert.ok(acting.has(kind), `plan should act on a ${kind}`);
    }
    const stop = await e.plan(
      powerGraph(
        [...e.analysis.inventory!.guests.values()].filter((g) => !g.isTemplate),
        'stopped',
      ),
    );
    assert.ok(stop.nodes.every((n) => n.kind === 'power' && n.action === 'update'));
    const del = await e.plan(
      deleteGraph(e.analysis.inventory!, [...e.analysis.inventory!.guests.values()], true),
    );
    assert.ok(del.nodes.every((n) => n.kind === 'removal' && n.action === 'delete'));
    assert.equal(mutations(e), before, 'plan made no mutating driver call');
    assert.ok(!existsSync(portainerCert), 'plan wrote nothing to the certificate store');
    // The issuer is observed (its CA must answer) but a plan never asks it to sign anything.
    assert.equal(plan.nodes.find((n) => n.id === 'issuer/internal')?.action, 'noop');
    assert.equal(e.mem.issuer.calls.get('issue') ?? 0, 5, 'only the first sync issued certificates');
  } finally {
    cleanup(e);
  }
});

test('a failing action skips exactly its dependents; the rest completes; the journal says why', async () => {
  const e = await testEngine(EXAMPLE, {
    faults: [
      {
        method: 'createGuest',
        match: (a) => (a[0] as { id: number }).id === 102,
        times: Infinity,
        error: { message: 'storage quickOS-lxc-disks is full' },
      },
    ],
  });
  try {
    const r = await e.sync();
    assert.equal(r.outcome, 'failed');
    assert.equal(r.outcomes.get('guest/102'), 'failed');
    // 1001 depends on 102, 1002 on 1001: skipped, and so is everything in them.
    for (const id of [
      'guest/1001',
      'guest/1002',
      'stack/1001:portainer_service',
      'mesh/102',
      'file/102:/etc/traefik/certs/traefik.internal.thinkheads.ai.key',
    ]) {
      assert.equal(r.outcomes.get(id), 'skipped', id);
    }
    for (const id of ['guest/103', 'guest/101', 'gateway/101', 'reload/101:nginx', 'dns/host'])
      assert.equal(r.outcomes.get(id), 'ok', id);
    const skipped = e.events.find((x) => x.type === 'node-end' && x.id === 'guest/1002');
    assert.match(skipped && 'reason' in skipped ? skipped.reason : '', /because guest\/102 failed/);
    const run = e.journal.getRun('last')!;
    const failed = run.actions.find((a) => a.resourceId === 'guest/102' && a.outcome === 'failed');
    assert.match(failed?.error ?? '', /storage quickOS-lxc-disks is full/);
    assert.ok(run.actions.some((a) => a.resourceId === 'guest/1002' && a.outcome === 'skipped'));
    // Without the fault the next run repairs it.
    e.mem.hypervisor.faults.length = 0;
    assert.equal((await e.sync()).outcome, 'ok');
  } finally {
    cleanup(e);
  }
});

test('a retryable failure is retried with backoff and succeeds', async () => {
  const e = await testEngine(EXAMPLE, {
    faults: [
      {
        method: 'createGuest',
        match: (a) => (a[0] as { id: number }).id === 103,
        times: 2,
        error: {
          message: "can't lock file '/run/lock/lxc/pve-config-103.lock' - got timeout",
          retryable: true,
        },
      },
    ],
  });
  try {
    const r = await e.sync();
    assert.equal(r.outcome, 'ok');
    const retries = e.events.filter((x) => x.type === 'node-retry' && x.id === 'guest/103');
    assert.equal(retries.length, 2);
  } finally {
    cleanup(e);
  }
});

test('an interrupted sync starts nothing new; the next sync finishes the job', async () => {
  const e = await testEngine(EXAMPLE, { latencyMs: 1 });
  try {
    const interrupt = new AbortController();
    const orig = e.mem.hypervisor.createGuest.bind(e.mem.hypervisor);
    e.mem.hypervisor.createGuest = async (spec) => {
      interrupt.abort();
      return orig(spec);
    };
    const r = await e.sync({ interrupt: interrupt.signal });
    assert.equal(r.outcome, 'interrupted');
    assert.ok(r.counts.skipped > 0);
    e.mem.hypervisor.createGuest = orig;
    assert.equal((await e.sync()).outcome, 'ok');
  } finally {
    cleanup(e);
  }
});

test('a saved plan is refused when what it observed has changed', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    await e.mem.hypervisor.updateGuest(103, { cores: 7 });
    const plan = await e.plan();
    assert.ok(plan.nodes.find((n) => n.id === 'guest/103')?.action === 'update');
    await e.mem.hypervisor.updateGuest(103, { cores: 9 });
    const r = await e.sync({ plan });
    assert.deepEqual(r.stale, ['guest/103']);
    const fresh = await e.plan();
    const applied = await e.sync({ plan: fresh });
    assert.equal(applied.outcome, 'ok');
    assert.equal(applied.counts.ok, 1);
  } finally {
    cleanup(e);
  }
});

test('a reload owed by a run that ended before it ran is done by the next run', async () => {
  const e = await testEngine(EXAMPLE, {
    faults: [
      {
        method: 'exec',
        match: (a) => JSON.stringify(a[1]) === '["systemctl","reload","traefik"]',
        times: Infinity,
        error: { message: 'connection to 102 lost' },
      },
    ],
  });
  try {
    const first = await e.sync();
    assert.equal(first.outcomes.get('reload/102:traefik'), 'failed');
    assert.ok(e.journal.pendingHandlers().has('reload/102:traefik'));
    // The certificate files are in place now, so nothing it watches changes again; the debt alone drives it.
    const e2 = await e.reopen();
    e2.mem.hypervisor.faults.length = 0;
    const plan = await e2.plan();
    assert.match(
      plan.nodes.find((n) => n.id === 'reload/102:traefik')!.reason,
      /still owed since an earlier run changed file\/102:/,
    );
    const second = await e2.sync();
    assert.equal(second.outcomes.get('reload/102:traefik'), 'ok');
    assert.equal(second.counts.ok, 1, 'only the owed reload ran');
    assert.equal(e2.journal.pendingHandlers().size, 0);
    assert.equal(e2.mem.world.state.guests['102']!.services['traefik']?.reloads, 1);
    cleanup(e2);
  } finally {
    e.close();
  }
});

test('the Portainer restart waits for its stack: skipped on a fresh system, done when the certificate is renewed', async () => {
  const e = await testEngine(EXAMPLE);
  try {
    await e.sync();
    const fresh = e.events.find((x) => x.type === 'node-end' && x.id === 'restart/1001:portainer_server');
    assert.equal(fresh?.type === 'node-end' && fresh.outcome, 'unchanged');
    assert.match(
      fresh?.type === 'node-end' ? fresh.reason : '',
      /created by stack\/1001:portainer_service in this run, after the new files/,
    );
    const startedAt = e.mem.world.state.guests['1001']!.docker.containers['portainer_server']!.startedAt;

    rmSync(join(e.stateDir, 'certs', 'portainer.internal.thinkheads.ai'), { recursive: true });
    const renewed = await e.sync();
    assert.equal(renewed.outcomes.get('cert/portainer.internal.thinkheads.ai'), 'ok');
    assert.equal(renewed.outcomes.get('stack/1001:portainer_service'), 'unchanged');
    assert.equal(renewed.outcomes.get('restart/1001:portainer_server'), 'ok');
    assert.equal(renewed.outcomes.get('reload/101:nginx'), 'unchanged', 'an unrelated handler does not fire');
    assert.notEqual(
      e.mem.world.state.guests['1001']!.docker.containers['portainer_server']!.startedAt,
      startedAt,
    );
  } finally {
    cleanup(e);
  }
});

test('a configuration without certificates manages no trust store and syncs cleanly', async () => {
  const { writeFixture } = await import('../helpers/config-fixture.js');
  const dir = writeFixture({});
  const e = await testEngine(dir);
  try {
    assert.ok(![...e.graph.nodes.keys()].some((id) => id.startsWith('trust/')));
    const r = await e.sync();
    assert.equal(r.outcome, 'ok');
    assert.equal((await e.sync()).counts.ok, 0);
  } finally {
    cleanup(e);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('files for a stopped guest are installed; its service is not reloaded until it runs', async () => {
  const { writeFixture, lxc } = await import('../helpers/config-fixture.js');
  const dir = writeFixture({
    lxc: {
      lxc_configs: {
        '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'] }),
        '101': lxc('web', '10.0.0.153'),
      },
    },
    certificates: {
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
          common_name: 'gateway.internal.example',
          install: [
            {
              guest: 101,
              key: { path: '/etc/nginx/ssl/gw.key', group: 'www-data', mode: '0640' },
              cert: { path: '/etc/nginx/ssl/gw.crt' },
            },
          ],
          follow_up: { type: 'reload-service', guest: 101, service: 'nginx' },
        },
      ],
    },
  });
  const execIn: unknown[] = [];
  const e = await testEngine(dir, {
    onCall: (method, args) => void (method === 'exec' && execIn.push(args[0])),
  });
  try {
    const r = await e.sync();
    assert.equal(
      r.outcome,
      'ok',
      JSON.stringify(e.events.filter((x) => x.type === 'node-end' && x.outcome === 'failed')),
    );
    assert.equal(e.mem.world.state.guests['101']!.status, 'stopped');
    assert.ok(e.mem.world.state.guests['101']!.files['/etc/nginx/ssl/gw.key']);
    const reload = e.events.find((x) => x.type === 'node-end' && x.id === 'reload/101:nginx');
    assert.match(
      reload?.type === 'node-end' ? reload.reason : '',
      /101 is not running; nginx reads the new files when it starts/,
    );
    assert.ok(!execIn.includes(101), 'nothing is run in the stopped guest');
  } finally {
    cleanup(e);
    rmSync(dir, { recursive: true, force: true });
  }
});
