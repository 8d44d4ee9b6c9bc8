import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  convergeGraph,
  createGraph,
  deleteGraph,
  letsGoGraph,
  powerGraph,
  resolveGuests,
  startGraph,
  VerbError,
} from '../../src/engine/verbs.js';
import { executionOrder } from '../../src/graph/order.js';
import type { ResourceGraph } from '../../src/graph/types.js';
import type { Guest, Inventory } from '../../src/model/inventory.js';
import { cleanup, testEngine, type TestEngine } from '../helpers/engine.js';
import { baseHypervisor, lxc, vm, writeFixture } from '../helpers/config-fixture.js';

/**
 * The guest lifecycle verbs on the emulated host, in-process. Every test records the mutating hypervisor
 * calls in the order they were made ("createGuest 103", "startGuest 1001", …) and asserts on that order,
 * on which guests changed, and on the statuses the emulated host ends with.
 *
 * The example: LXC template 900 (snapshot final-form); 103 step-ca, 101 gateway (needs 103), 102 traefik
 * (needs 103), all cloned from 900; VM template 9000; VM 1001 (clone of 9000, needs 102); VM 1002 (clone of
 * 9000, needs 1001). Boot order 103:1, 101:2, 102:3, 1001:4, 1002:5.
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));

const MUTATING = new Set([
  'createGuest',
  'updateGuest',
  'startGuest',
  'stopGuest',
  'deleteGuest',
  'snapshotGuest',
  'markTemplate',
]);

interface Rig {
  e: TestEngine;
  inv: Inventory;
  /** Mutating hypervisor calls, in order, as "method id". */
  calls: string[];
  guests(...ids: Array<number | 'all'>): Guest[];
  run(graph: ResourceGraph): ReturnType<TestEngine['sync']>;
  status(id: number): string | undefined;
  /** Guest ids the emulated host has. */
  existing(): number[];
}

function withRig(fn: (r: Rig) => Promise<void>, configDir = EXAMPLE): () => Promise<void> {
  return async () => {
    const calls: string[] = [];
    const e = await testEngine(configDir, {
      onCall: (method, args) => {
        if (!MUTATING.has(method)) return;
        const first = args[0];
        calls.push(
          `${method} ${typeof first === 'object' && first !== null ? (first as { id: number }).id : String(first)}`,
        );
      },
    });
    const inv = e.analysis.inventory!;
    const rig: Rig = {
      e,
      inv,
      calls,
      guests: (...ids) => resolveGuests(inv, ids.map(String)),
      async run(graph) {
        const r = await e.sync({ graph });
        const failed = e.events.filter((x) => x.type === 'node-end' && x.outcome === 'failed');
        assert.ok(r.outcome === 'ok' || failed.length > 0, `run ended ${r.outcome} without a failed node`);
        return r;
      },
      status: (id) => e.mem.world.state.guests[String(id)]?.status,
      existing: () =>
        Object.keys(e.mem.world.state.guests)
          .map(Number)
          .sort((a, b) => a - b),
    };
    try {
      await fn(rig);
    } finally {
      cleanup(e);
    }
  };
}

/** Everything created (stopped), calls forgotten. */
async function createAll(r: Rig): Promise<void> {
  assert.equal((await r.run(createGraph(r.inv, r.guests('all')))).outcome, 'ok');
  r.calls.length = 0;
}

/** Everything created and started by LetsGo, calls forgotten. */
async function letsGo(r: Rig): Promise<void> {
  assert.equal((await r.run(letsGoGraph(r.inv))).outcome, 'ok');
  r.calls.length = 0;
}

function pos(calls: readonly string[], call: string): number {
  const i = calls.indexOf(call);
  assert.ok(i >= 0, `expected a call "${call}" in: ${calls.join(', ')}`);
  return i;
}

function assertBefore(calls: readonly string[], first: string, then: string): void {
  assert.ok(
    pos(calls, first) < pos(calls, then),
    `expected "${first}" before "${then}" in: ${calls.join(', ')}`,
  );
}

const only = (calls: readonly string[], method: string) =>
  calls.filter((c) => c.startsWith(`${method} `)).map((c) => Number(c.split(' ')[1]));

const nodeIds = (g: ResourceGraph) => [...g.nodes.keys()].sort();

function failureOf(e: TestEngine, id: string): string {
  const end = e.events.find((x) => x.type === 'node-end' && x.id === id && x.outcome === 'failed');
  return end && end.type === 'node-end' ? (end.error ?? end.reason) : '';
}

// ---------------------------------------------------------------------------------------------------------
// Naming guests

test(
  'resolveGuests: bare ids, guest/ ids and `all`; an undeclared id is a VerbError that names it and lists the declared ones',
  withRig(async ({ inv }) => {
    assert.deepEqual(
      resolveGuests(inv, ['101', 'guest/1002']).map((g) => g.id),
      [101, 1002],
    );
    assert.deepEqual(
      resolveGuests(inv, ['all'])
        .map((g) => g.id)
        .sort((a, b) => a - b),
      [101, 102, 103, 900, 1001, 1002, 9000],
    );
    assert.throws(() => resolveGuests(inv, []), VerbError);
    assert.throws(
      () => resolveGuests(inv, ['101', '4242']),
      (e: unknown) =>
        e instanceof VerbError &&
        /guest 4242 is not declared/.test(e.message) &&
        /declared: .*\b1002\b/.test(e.message),
    );
    assert.throws(() => resolveGuests(inv, ['gateway']), VerbError);
  }),
);

// ---------------------------------------------------------------------------------------------------------
// create

test(
  'create 1002: creates it and every missing clone source and dependency, requirements first, and starts nothing',
  withRig(async (r) => {
    const graph = createGraph(r.inv, r.guests(1002));
    assert.deepEqual(nodeIds(graph), [
      'guest/1001',
      'guest/1002',
      'guest/102',
      'guest/103',
      'guest/900',
      'guest/9000',
    ]);
    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    assert.equal(res.counts.ok, 6);

    // Exactly the chain: 101 (not a requirement of 1002) does not exist.
    assert.deepEqual(r.existing(), [102, 103, 900, 1001, 1002, 9000]);
    assert.deepEqual(
      only(r.calls, 'createGuest').sort((a, b) => a - b),
      [102, 103, 900, 1001, 1002, 9000],
    );
    // Clone sources are created (and snapshotted / made a template) before anything is cloned from them.
    assertBefore(r.calls, 'createGuest 900', 'snapshotGuest 900');
    assertBefore(r.calls, 'snapshotGuest 900', 'createGuest 103');
    assertBefore(r.calls, 'snapshotGuest 900', 'createGuest 102');
    assertBefore(r.calls, 'createGuest 9000', 'markTemplate 9000');
    assertBefore(r.calls, 'markTemplate 9000', 'createGuest 1001');
    // Dependencies before dependents.
    assertBefore(r.calls, 'createGuest 103', 'createGuest 102');
    assertBefore(r.calls, 'createGuest 102', 'createGuest 1001');
    assertBefore(r.calls, 'createGuest 1001', 'createGuest 1002');
    assert.equal(r.e.mem.world.state.guests['103']!.origin, 'clone:900@final-form');
    assert.equal(r.e.mem.world.state.guests['1002']!.origin, 'clone:9000@initial_clean_state');

    // Nothing started, not even the guests declared to start at boot.
    assert.deepEqual(only(r.calls, 'startGuest'), []);
    for (const id of r.existing()) assert.equal(r.status(id), 'stopped', `guest ${id}`);
    assert.equal(r.e.mem.world.state.guests['9000']!.template, true);
  }),
);

test(
  'create: guests that exist are left alone (not reconfigured, not started); only what is missing is made',
  withRig(async (r) => {
    await r.run(createGraph(r.inv, r.guests(1002)));
    await r.e.mem.hypervisor.updateGuest(102, { memoryMb: 1 });
    r.calls.length = 0;

    const plan = await r.e.plan(createGraph(r.inv, r.guests(101)));
    assert.deepEqual(
      plan.nodes.filter((n) => n.action !== 'noop').map((n) => `${n.action} ${n.id}`),
      ['create guest/101'],
    );
    const res = await r.run(createGraph(r.inv, r.guests(101)));
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.calls, ['createGuest 101']);
    assert.equal(r.status(101), 'stopped');

    r.calls.length = 0;
    const again = await r.run(createGraph(r.inv, r.guests(1002)));
    assert.equal(again.counts.ok, 0);
    assert.deepEqual(r.calls, [], 'the drift in 102 is not create’s business');
    assert.equal(r.e.mem.world.state.guests['102']!.settings.memoryMb, 1);
  }),
);

// ---------------------------------------------------------------------------------------------------------
// converge

test(
  'converge 1002: repairs drift in the named guest and its whole chain (memory, a stopped requirement), and nothing outside it',
  withRig(async (r) => {
    await letsGo(r);
    const hv = r.e.mem.hypervisor;
    await hv.updateGuest(103, { memoryMb: 1 }); // a requirement of 1002 (1002 → 1001 → 102 → 103)
    await hv.updateGuest(1001, { memoryMb: 1, cores: 1 }); // a direct dependency
    await hv.stopGuest(102); // a requirement that should be running
    await hv.updateGuest(101, { memoryMb: 1 }); // outside the chain
    r.calls.length = 0;

    const graph = convergeGraph(r.inv, r.guests(1002));
    assert.deepEqual(nodeIds(graph), [
      'guest/1001',
      'guest/1002',
      'guest/102',
      'guest/103',
      'guest/900',
      'guest/9000',
    ]);
    const plan = await r.e.plan(graph);
    assert.deepEqual(
      plan.nodes
        .filter((n) => n.action !== 'noop')
        .map((n) => n.id)
        .sort(),
      ['guest/1001', 'guest/102', 'guest/103'],
    );
    assert.equal(r.calls.length, 0, 'planning changed nothing');

    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    assert.equal(res.counts.ok, 3);
    assert.deepEqual(
      r.calls,
      ['updateGuest 103', 'startGuest 102', 'updateGuest 1001'],
      'repaired in dependency order',
    );
    const g = r.e.mem.world.state.guests;
    assert.equal(g['103']!.settings.memoryMb, 1024);
    assert.equal(g['1001']!.settings.memoryMb, 8192);
    assert.equal(g['1001']!.settings.cores, 4);
    assert.equal(r.status(102), 'running');
    assert.equal(g['101']!.settings.memoryMb, 1, '101 is not in the chain of 1002');

    r.calls.length = 0;
    assert.equal((await r.run(graph)).counts.ok, 0);
    assert.deepEqual(r.calls, [], 'a converged chain converges to nothing');
  }),
);

test(
  'converge 101 on an empty host: creates the chain and starts it as declared (template 900 stays stopped)',
  withRig(async (r) => {
    const res = await r.run(convergeGraph(r.inv, r.guests(101)));
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.existing(), [101, 103, 900]);
    assert.deepEqual(only(r.calls, 'startGuest'), [103, 101]);
    assertBefore(r.calls, 'startGuest 103', 'createGuest 101');
    assert.equal(r.status(900), 'stopped');
    assert.equal(r.status(103), 'running');
    assert.equal(r.status(101), 'running');
  }),
);

// ---------------------------------------------------------------------------------------------------------
// start

test(
  'start 1002: starts it and the guests it depends on, in dependency order; not its siblings, not the templates it was cloned from',
  withRig(async (r) => {
    await createAll(r);
    const graph = startGraph(r.inv, r.guests(1002));
    assert.deepEqual(nodeIds(graph), ['power/1001', 'power/1002', 'power/102', 'power/103']);
    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.calls, ['startGuest 103', 'startGuest 102', 'startGuest 1001', 'startGuest 1002']);
    for (const id of [103, 102, 1001, 1002]) assert.equal(r.status(id), 'running', `guest ${id}`);
    for (const id of [101, 900, 9000]) assert.equal(r.status(id), 'stopped', `guest ${id}`);

    // Already running: nothing to do.
    r.calls.length = 0;
    const again = await r.run(startGraph(r.inv, r.guests(1002)));
    assert.equal(again.counts.unchanged, 4);
    assert.deepEqual(r.calls, []);
  }),
);

test(
  'start: naming a template is an error (VerbError naming exactly the templates), and nothing is started',
  withRig(async (r) => {
    await createAll(r);
    assert.throws(
      () => startGraph(r.inv, r.guests(900)),
      (e: unknown) =>
        e instanceof VerbError && /^900 is a template; templates are never started$/.test(e.message),
    );
    assert.throws(
      () => startGraph(r.inv, r.guests(101, 9000)),
      (e: unknown) =>
        e instanceof VerbError && /^9000 is a template/.test(e.message) && !/101/.test(e.message),
    );
    assert.throws(
      () => startGraph(r.inv, r.guests(900, 9000)),
      (e: unknown) => e instanceof VerbError && /900, 9000 are templates/.test(e.message),
    );
    assert.deepEqual(r.calls, []);
    for (const id of r.existing()) assert.equal(r.status(id), 'stopped');
  }),
);

test(
  'start: a guest that does not exist fails with a hint to create it; what needs it is skipped; nothing is created',
  withRig(async (r) => {
    const res = await r.e.sync({ graph: startGraph(r.inv, r.guests(101)) });
    assert.equal(res.outcome, 'failed');
    assert.equal(res.outcomes.get('power/103'), 'failed');
    assert.equal(res.outcomes.get('power/101'), 'skipped');
    assert.match(
      failureOf(r.e, 'power/103'),
      /guest 103 does not exist; create it first \(`phoenix create 103`\)/,
    );
    assert.deepEqual(r.calls, []);
    assert.deepEqual(r.existing(), []);
  }),
);

// ---------------------------------------------------------------------------------------------------------
// stop

test(
  'stop 103: stops only the named guest; the guests that depend on it keep running',
  withRig(async (r) => {
    await letsGo(r);
    const graph = powerGraph(r.guests(103), 'stopped');
    assert.deepEqual(nodeIds(graph), ['power/103']);
    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.calls, ['stopGuest 103']);
    assert.equal(r.status(103), 'stopped');
    for (const id of [101, 102, 1001, 1002]) assert.equal(r.status(id), 'running', `guest ${id}`);
  }),
);

test(
  'stop of several guests: dependents first, in reverse boot order, whatever order they were named in',
  withRig(async (r) => {
    await letsGo(r);
    const res = await r.run(powerGraph(r.guests(103, 1001, 101, 1002, 102), 'stopped'));
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.calls, [
      'stopGuest 1002',
      'stopGuest 1001',
      'stopGuest 102',
      'stopGuest 101',
      'stopGuest 103',
    ]);
    for (const id of [101, 102, 103, 1001, 1002]) assert.equal(r.status(id), 'stopped');
  }),
);

test(
  'stop: a guest that is already stopped is left alone (pct refuses to stop a stopped container)',
  withRig(async (r) => {
    await letsGo(r);
    await r.run(powerGraph(r.guests(101), 'stopped'));
    r.calls.length = 0;
    const again = await r.run(powerGraph(r.guests(101), 'stopped'));
    assert.equal(again.outcome, 'ok');
    assert.equal(again.counts.unchanged, 1);
    assert.deepEqual(r.calls, []);
  }),
);

// ---------------------------------------------------------------------------------------------------------
// restart

test(
  'restart: only the named guests, in boot order; a stopped one is just started; their dependencies are not touched',
  withRig(async (r) => {
    await letsGo(r);
    await r.e.mem.hypervisor.stopGuest(102);
    r.calls.length = 0;
    const graph = powerGraph(r.guests(102, 101), 'restarted');
    assert.deepEqual(nodeIds(graph), ['power/101', 'power/102']);
    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.calls, ['stopGuest 101', 'startGuest 101', 'startGuest 102']);
    for (const id of [101, 102, 103, 1001, 1002]) assert.equal(r.status(id), 'running', `guest ${id}`);
  }),
);

// ---------------------------------------------------------------------------------------------------------
// LetsGo

test(
  'LetsGo: creates everything, then starts in boot order with the VMs; templates 900 and 9000 are never started; a second run does nothing',
  withRig(async (r) => {
    const graph = letsGoGraph(r.inv);
    assert.deepEqual(
      nodeIds(graph).filter((id) => id.startsWith('power/')),
      ['power/1001', 'power/1002', 'power/101', 'power/102', 'power/103'],
      'no power action for a template',
    );
    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.existing(), [101, 102, 103, 900, 1001, 1002, 9000]);
    assert.deepEqual(only(r.calls, 'startGuest'), [103, 101, 102, 1001, 1002]);
    const lastCreate = Math.max(...r.calls.map((c, i) => (c.startsWith('createGuest ') ? i : -1)));
    const firstStart = r.calls.findIndex((c) => c.startsWith('startGuest '));
    assert.ok(
      lastCreate < firstStart,
      `every guest is created before the first start: ${r.calls.join(', ')}`,
    );
    for (const id of [103, 101, 102, 1001, 1002]) assert.equal(r.status(id), 'running', `guest ${id}`);
    assert.equal(r.status(900), 'stopped');
    assert.equal(r.status(9000), 'stopped');
    assert.equal(r.e.mem.world.state.guests['9000']!.template, true);

    r.calls.length = 0;
    const again = await r.run(letsGoGraph(r.inv));
    assert.equal(again.outcome, 'ok');
    assert.equal(again.counts.ok, 0);
    assert.deepEqual(r.calls, []);
  }),
);

test(
  'LetsGo on a partly running host starts only what is stopped, still in boot order',
  withRig(async (r) => {
    await createAll(r);
    await r.e.mem.hypervisor.startGuest(103);
    await r.e.mem.hypervisor.startGuest(1001);
    r.calls.length = 0;
    await r.run(letsGoGraph(r.inv));
    assert.deepEqual(r.calls, ['startGuest 101', 'startGuest 102', 'startGuest 1002']);
  }),
);

function kindsFixture(): string {
  return writeFixture({
    hypervisor: baseHypervisor(),
    lxc: {
      lxc_configs: {
        '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'], start_at_boot: true, boot_order: 2 }),
        '101': lxc('gateway', '10.0.0.153', { dependencies: ['103'], start_at_boot: true, boot_order: 3 }),
        // start_at_boot without an order: last, as Proxmox does.
        '104': lxc('late', '10.0.0.104', { start_at_boot: true }),
        '105': lxc('manual', '10.0.0.105', { start_at_boot: false }),
      },
    },
    vm: {
      vms: [
        vm(1001, 'first', '10.0.0.111', { start_at_boot: true, boot_order: 1 }),
        vm(1005, 'manual-vm', '10.0.0.115', { start_at_boot: false }),
      ],
    },
  });
}

test('LetsGo: boot order decides across kinds (a VM with boot_order 1 starts before the containers); unset order goes last; start_at_boot false is not started', async () => {
  const dir = kindsFixture();
  try {
    await withRig(async (r) => {
      await r.run(letsGoGraph(r.inv));
      assert.deepEqual(r.existing(), [101, 103, 104, 105, 1001, 1005]);
      assert.deepEqual(only(r.calls, 'startGuest'), [1001, 103, 101, 104]);
      assert.equal(r.status(105), 'stopped');
      assert.equal(r.status(1005), 'stopped');
    }, dir)();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------------------
// delete

test(
  'delete: refuses a guest that others depend on (dependencies and clones), naming them; nothing is deleted',
  withRig(async (r) => {
    await letsGo(r);
    assert.throws(
      () => deleteGraph(r.inv, r.guests(103), false),
      (e: unknown) =>
        e instanceof VerbError &&
        /101 \(needs 103\)/.test(e.message) &&
        /102 \(needs 103\)/.test(e.message) &&
        /--force/.test(e.message),
    );
    assert.throws(
      () => deleteGraph(r.inv, r.guests(1001), false),
      (e: unknown) =>
        e instanceof VerbError && /1002 \(needs 1001\)/.test(e.message) && !/102 \(/.test(e.message),
    );
    // A clone source counts: 103, 101 and 102 were cloned from 900.
    assert.throws(
      () => deleteGraph(r.inv, r.guests(900), false),
      (e: unknown) =>
        e instanceof VerbError &&
        ['103', '101', '102'].every((id) => e.message.includes(`${id} (needs 900)`)),
    );
    assert.deepEqual(r.calls, []);
    assert.deepEqual(r.existing(), [101, 102, 103, 900, 1001, 1002, 9000]);
  }),
);

test(
  'delete: naming the dependents too needs no --force, and they go first; a guest without dependents goes alone',
  withRig(async (r) => {
    await letsGo(r);
    const res = await r.run(deleteGraph(r.inv, r.guests(1001, 1002), false));
    assert.equal(res.outcome, 'ok');
    assert.deepEqual(r.calls, ['stopGuest 1002', 'deleteGuest 1002', 'stopGuest 1001', 'deleteGuest 1001']);
    r.calls.length = 0;
    await r.run(deleteGraph(r.inv, r.guests(101), false));
    assert.deepEqual(only(r.calls, 'deleteGuest'), [101]);
    assert.deepEqual(r.existing(), [102, 103, 900, 9000]);
    for (const id of [102, 103]) assert.equal(r.status(id), 'running');

    // Deleting what is gone is nothing to do.
    r.calls.length = 0;
    const again = await r.run(deleteGraph(r.inv, r.guests(101), false));
    assert.equal(again.counts.unchanged, 1);
    assert.deepEqual(r.calls, []);
  }),
);

test(
  'delete 103 --force: deletes its dependents first, transitively, stopping each before destroying it',
  withRig(async (r) => {
    await letsGo(r);
    const graph = deleteGraph(r.inv, r.guests(103), true);
    assert.deepEqual(nodeIds(graph), [
      'removal/1001',
      'removal/1002',
      'removal/101',
      'removal/102',
      'removal/103',
    ]);
    const res = await r.run(graph);
    assert.equal(res.outcome, 'ok');
    const deletes = only(r.calls, 'deleteGuest');
    assert.deepEqual(
      [...deletes].sort((a, b) => a - b),
      [101, 102, 103, 1001, 1002],
    );
    assertBefore(r.calls, 'deleteGuest 1002', 'deleteGuest 1001');
    assertBefore(r.calls, 'deleteGuest 1001', 'deleteGuest 102');
    assertBefore(r.calls, 'deleteGuest 102', 'deleteGuest 103');
    assertBefore(r.calls, 'deleteGuest 101', 'deleteGuest 103');
    assert.equal(deletes.at(-1), 103, 'the named guest goes last');
    for (const id of deletes) assertBefore(r.calls, `stopGuest ${id}`, `deleteGuest ${id}`);
    assert.deepEqual(r.existing(), [900, 9000], 'templates are not dependents of 103');
  }),
);

// ---------------------------------------------------------------------------------------------------------
// Planning

test(
  'planning any verb observes only: no mutating call',
  withRig(async (r) => {
    await createAll(r);
    await r.e.mem.hypervisor.updateGuest(103, { memoryMb: 1 });
    const before = r.e.mem.hypervisor.mutations;
    const graphs = [
      createGraph(r.inv, r.guests('all')),
      convergeGraph(r.inv, r.guests(1002)),
      startGraph(r.inv, r.guests(1002)),
      powerGraph(r.guests(101, 103), 'stopped'),
      powerGraph(r.guests(101), 'restarted'),
      deleteGraph(r.inv, r.guests(103), true),
      letsGoGraph(r.inv),
    ];
    for (const g of graphs) {
      const plan = await r.e.plan(g);
      assert.equal(plan.nodes.length, g.nodes.size);
    }
    assert.equal(r.e.mem.hypervisor.mutations, before);
  }),
);

test(
  'start all (as the CLI resolves `all`) starts every guest except the templates',
  withRig(async (r) => {
    await createAll(r);
    const graph = startGraph(r.inv, resolveGuests(r.inv, ['all']), true);
    await r.run(graph);
    assert.deepEqual(only(r.calls, 'startGuest'), [103, 101, 102, 1001, 1002]);
  }),
);

function conflictFixture(): string {
  // 101 depends on 103, but boots earlier (1 < 2); 104 depends on 105, which has no boot order.
  return writeFixture({
    hypervisor: baseHypervisor(),
    lxc: {
      lxc_configs: {
        '103': lxc('step-ca', '10.0.0.10', { features: ['step_ca'], start_at_boot: true, boot_order: 2 }),
        '101': lxc('gateway', '10.0.0.153', { dependencies: ['103'], start_at_boot: true, boot_order: 1 }),
        '105': lxc('db', '10.0.0.105', { start_at_boot: true }),
        '104': lxc('app', '10.0.0.104', { dependencies: ['105'], start_at_boot: true, boot_order: 3 }),
      },
    },
  });
}

test('a boot order that contradicts a dependency does not make the power actions vanish: dependencies start first', async () => {
  const dir = conflictFixture();
  try {
    await withRig(async (r) => {
      const lets = letsGoGraph(r.inv);
      assert.equal(
        executionOrder(lets).length,
        lets.nodes.size,
        'every LetsGo node is in the execution order',
      );
      const start = startGraph(r.inv, r.guests(101));
      assert.equal(
        executionOrder(start).length,
        start.nodes.size,
        'every start node is in the execution order',
      );
      const res = await r.run(lets);
      assert.equal(res.outcome, 'ok');
      for (const id of [101, 103, 104, 105]) assert.equal(r.status(id), 'running', `guest ${id}`);
      assertBefore(r.calls, 'startGuest 103', 'startGuest 101');
      assertBefore(r.calls, 'startGuest 105', 'startGuest 104');
    }, dir)();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
