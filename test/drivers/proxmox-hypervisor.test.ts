import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError } from '../../src/drivers/errors.js';
import { ConcurrentChange, PveApiClient } from '../../src/drivers/proxmox/api/index.js';
import type { PveApi } from '../../src/drivers/proxmox/api/index.js';
import { GuestNodeOffline, GuestsUnreachable, VmidInUse } from '../../src/drivers/proxmox/errors.js';
import { ProxmoxHypervisor } from '../../src/drivers/proxmox/hypervisor.js';
import type { ProxmoxHypervisorOptions } from '../../src/drivers/proxmox/hypervisor.js';
import { convergeGraph, deleteGraph, letsGoGraph, powerGraph } from '../../src/engine/verbs.js';
import { desiredSettings } from '../../src/resources/guest.js';
import type { Guest, Inventory } from '../../src/model/inventory.js';
import { nodeStandIn } from '../emulators/pve-api/node-runner.js';
import type { NodeStandIn } from '../emulators/pve-api/node-runner.js';
import { startPveEmulator } from '../emulators/pve-api/server.js';
import type { PveEmulator } from '../emulators/pve-api/server.js';
import { cleanup, testEngine } from '../helpers/engine.js';
import type { TestEngine } from '../helpers/engine.js';

/**
 * ProxmoxHypervisor through the real engine, against the REST emulator (test/emulators/pve-api) and its
 * node stand-in (raw lxc lines, bind-mount directories): the example's whole guest lifecycle, drift, and
 * the cluster behaviours (placement, offline nodes, lock timeouts, VMID collisions, no mutation in plan).
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const TOKEN_ID = 'phoenix@pve!sync';
const SECRET = randomUUID();
const FAST = { pollMs: 2, maxPollMs: 10, timeoutMs: 10_000 };
const STORAGES = ['local', 'quickOS-lxc-disks', 'quickOS-vm-disks', 'fastData-shared-iso'];
const GiB = 2 ** 30;

interface World {
  readonly emu: PveEmulator;
  readonly node: NodeStandIn;
  api(): PveApiClient;
  driver(inventory: Inventory, over?: Partial<ProxmoxHypervisorOptions>): ProxmoxHypervisor;
}

/** Three nodes: pve2 has the most free memory, pve3 is offline; pve lacks the VM storage. */
async function world(): Promise<World> {
  const emu = await startPveEmulator({ nodes: [] });
  emu.tokens.set(TOKEN_ID, SECRET);
  emu.model.addNode('pve', { mem: 40 * GiB, storages: STORAGES.filter((s) => s !== 'quickOS-vm-disks') });
  emu.model.addNode('pve2', { mem: 8 * GiB, storages: STORAGES });
  emu.model.addNode('pve3', { mem: 1 * GiB, storages: STORAGES, status: 'offline' });
  emu.model.taskPolls = 1;
  emu.model.execPolls = 0;
  const node = nodeStandIn(emu.model);
  const api = () =>
    new PveApiClient({
      host: emu.host,
      port: emu.port,
      auth: { kind: 'token', tokenId: TOKEN_ID, secret: SECRET },
      trust: { fingerprint: emu.tls.fingerprint },
      retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
      timeoutMs: 5000,
    });
  return {
    emu,
    node,
    api,
    driver: (inventory, over = {}) =>
      new ProxmoxHypervisor({ api: api(), inventory, node, tasks: FAST, ...over }),
  };
}

/** A copy of the example; with `disk1001`, VM 1001's disk set to that size (smaller than its template's: a shrink). */
async function exampleCopy(disk1001?: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-pve-example-'));
  await cp(EXAMPLE, dir, { recursive: true });
  const file = join(dir, 'phoenix_vm_configs.json');
  const vms = JSON.parse(await readFile(file, 'utf8')) as {
    vms: Array<{ vmid: number; disk_size_gb?: number }>;
  };
  if (disk1001 !== undefined) vms.vms.find((v) => v.vmid === 1001)!.disk_size_gb = disk1001;
  await writeFile(file, JSON.stringify(vms, null, 2));
  return dir;
}

const failures = (e: TestEngine) =>
  e.events.flatMap((ev) =>
    ev.type === 'node-end' && ev.outcome === 'failed' ? [`${ev.id}: ${ev.error}`] : [],
  );

const indexOf = (emu: PveEmulator, pred: (r: PveEmulator['requests'][number]) => boolean) =>
  emu.requests.findIndex(pred);

describe('the example through the engine on the REST emulator', () => {
  let w: World;
  let e: TestEngine;
  let inv: Inventory;
  let dir: string;
  before(async () => {
    w = await world();
    dir = await exampleCopy();
    e = await testEngine(dir, {
      drivers: ({ inventory, mem }) => ({ ...mem.drivers, hypervisor: w.driver(inventory) }),
    });
    inv = e.analysis.inventory!;
  });
  after(async () => {
    cleanup(e);
    await w.emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  const all = () => [...inv.guests.values()];
  const startable = () => all().filter((g) => !g.isTemplate && g.boot.onBoot);

  test('create every guest in dependency order, then start them in boot order', async () => {
    // VM 1001's agent answers only after three pings (it boots): its NFS mounts wait for it.
    w.emu.model.agentBootPings.set(1001, 3);
    const result = await e.sync({ graph: letsGoGraph(inv) });
    assert.deepEqual(failures(e), []);
    assert.equal(result.outcome, 'ok');
    const { emu } = w;
    assert.deepEqual(
      [...emu.model.guests.keys()].sort((a, b) => a - b),
      all()
        .map((g) => g.id)
        .sort((a, b) => a - b),
    );
    // Placement: the online node with the most free memory that has the storage and the bridge.
    for (const g of emu.model.guests.values()) assert.equal(g.node, 'pve2', `guest ${g.vmid}`);

    // Templates and snapshots exist before the clones that need them, and clones name the snapshot.
    for (const g of all().filter((x) => x.cloneFrom !== undefined)) {
      const source = inv.guests.get(g.cloneFrom!)!;
      const type = g.kind === 'lxc' ? 'lxc' : 'qemu';
      const clone = indexOf(
        emu,
        (r) => r.path === `/nodes/pve2/${type}/${source.id}/clone` && r.params.newid === String(g.id),
      );
      const snap = indexOf(
        emu,
        (r) =>
          r.method === 'POST' &&
          r.path === `/nodes/pve2/${type}/${source.id}/snapshot` &&
          r.params.snapname === source.snapshotName,
      );
      assert.ok(clone > 0 && snap >= 0 && snap < clone, `snapshot of ${source.id} before the clone ${g.id}`);
      assert.equal(emu.requests[clone]!.params.snapname, source.snapshotName);
    }
    assert.equal(emu.model.guests.get(9000)!.config.template, '1');

    // Settings read back as declared: the engine verified every guest; spot-check the mapping.
    const ct101 = emu.model.guests.get(101)!;
    assert.match(ct101.config.rootfs!, /^quickOS-lxc-disks:vm-101-disk-0,size=32G$/);
    assert.ok(
      ct101.rawLxc.some(([k]) => k === 'lxc.idmap'),
      'id map lines written from id_maps',
    );
    assert.deepEqual(emu.model.guests.get(900)!.rawLxc, [['lxc.apparmor.profile', 'unconfined']]);
    assert.ok(w.node.dirs.has('/mnt/pve/quickOS/lxc-persistent-data/103/ssl'), 'bind-mount source created');
    assert.match(emu.model.guests.get(1001)!.config.scsi0!, /size=32G/);
    assert.match(
      emu.model.guests.get(9000)!.config.scsi0!,
      /size=32G/,
      'imported image grown to the declared size',
    );

    // Boot order: a guest with a lower order was started before every guest with a higher one.
    const started = (g: Guest) =>
      indexOf(emu, (r) => r.path === `/nodes/pve2/${g.kind === 'lxc' ? 'lxc' : 'qemu'}/${g.id}/status/start`);
    for (const a of startable())
      for (const b of startable())
        if (a.boot.order > 0 && (b.boot.order === 0 || a.boot.order < b.boot.order))
          assert.ok(
            started(a) < started(b),
            `${a.id} (order ${a.boot.order}) before ${b.id} (order ${b.boot.order})`,
          );
    for (const g of startable()) assert.equal(emu.model.guests.get(g.id)!.status, 'running', `guest ${g.id}`);
    const pings = emu.requests.filter((r) => r.path === '/nodes/pve2/qemu/1001/agent/ping').length;
    assert.ok(pings >= 4, `the agent was awaited (${pings} pings)`);
    const fstab = emu.model.guests.get(1001)!.files.get('/etc/fstab')?.toString('utf8') ?? '';
    assert.match(
      fstab,
      /^10\.0\.0\.13:\/quickOS\/vm-persistent-data\/1001 \/persistent-storage nfs defaults,_netdev 0 0$/m,
    );
    assert.ok(
      emu.requests.some(
        (r) =>
          r.path === '/nodes/pve2/qemu/1001/agent/exec' &&
          JSON.stringify(r.params.command) === JSON.stringify(['mount', '-a']),
      ),
      'mount -a ran in the VM',
    );
    assert.equal(emu.model.guests.get(900)!.status, 'stopped');
  });

  test('a converged cluster plans nothing, and plan sends no mutating request', async () => {
    const mutating = w.emu.mutatingRequests().length;
    const nodeCalls = w.node.log.length;
    const plan = await e.plan(convergeGraph(inv, all()));
    assert.deepEqual(
      plan.nodes.filter((n) => n.action !== 'noop').map((n) => `${n.id}: ${n.reason}`),
      [],
    );
    assert.equal(w.emu.mutatingRequests().length, mutating);
    assert.equal(w.node.log.length, nodeCalls);
  });

  test('drift: a memory size changed on Proxmox shows in plan and sync repairs it with the digest', async () => {
    const ct = w.emu.model.guests.get(101)!;
    const declared = inv.guests.get(101)!.resources.memoryMb!;
    ct.config.memory = String(declared / 2);
    const mutating = w.emu.mutatingRequests().length;
    const plan = await e.plan(convergeGraph(inv, all()));
    const node = plan.nodes.find((n) => n.id === 'guest/101')!;
    assert.equal(node.action, 'update');
    assert.deepEqual(node.changes, [{ field: 'memoryMb', from: declared / 2, to: declared }]);
    assert.equal(w.emu.mutatingRequests().length, mutating, 'plan sent no mutating request');

    const result = await e.sync({ graph: convergeGraph(inv, all()) });
    assert.deepEqual(failures(e), []);
    assert.equal(result.outcome, 'ok');
    assert.equal(ct.config.memory, String(declared));
    const puts = w.emu.mutatingRequests().slice(mutating);
    assert.deepEqual(
      puts.map((r) => `${r.method} ${r.path}`),
      ['PUT /nodes/pve2/lxc/101/config'],
      'only the drifted guest was written',
    );
    assert.equal(puts[0]!.params.memory, String(declared));
    assert.match(String(puts[0]!.params.digest), /^[0-9a-f]{40}$/);
    assert.equal(puts[0]!.params.net0, undefined, 'options that did not drift are not rewritten');
    const again = await e.plan(convergeGraph(inv, all()));
    assert.deepEqual(
      again.nodes.filter((n) => n.action !== 'noop').map((n) => n.id),
      [],
    );
  });

  test('stop every running guest, then delete every guest (dependents first)', async () => {
    const stop = await e.sync({ graph: powerGraph(startable(), 'stopped') });
    assert.deepEqual(failures(e), []);
    assert.equal(stop.outcome, 'ok');
    for (const g of w.emu.model.guests.values()) assert.equal(g.status, 'stopped', `guest ${g.vmid}`);
    assert.ok(w.emu.requests.some((r) => r.path.endsWith('/status/shutdown') && r.params.forceStop === '1'));

    const del = await e.sync({ graph: deleteGraph(inv, all(), true) });
    assert.deepEqual(failures(e), []);
    assert.equal(del.outcome, 'ok');
    assert.equal(w.emu.model.guests.size, 0);
    const deletes = w.emu.requests.filter((r) => r.method === 'DELETE');
    assert.ok(deletes.every((r) => r.params.purge === '1'));
    const at = (id: number) => deletes.findIndex((r) => r.path.endsWith(`/${id}`));
    assert.ok(at(900) > at(103) && at(9000) > at(1001), 'clone sources are deleted after their clones');
  });
});

describe('refusals before any mutation', () => {
  let w: World;
  let inv: Inventory;
  let shrinking: string;
  before(async () => {
    w = await world();
    shrinking = await exampleCopy(16);
    const e = await testEngine(shrinking);
    inv = e.analysis.inventory!;
    cleanup(e);
  });
  after(async () => {
    await w.emu.close();
    await rm(shrinking, { recursive: true, force: true });
  });

  test('a clone that would shrink the disk (VM 1001 at 16 GiB from a 32 GiB template) is refused with the reason', async () => {
    const hv = w.driver(inv);
    const g9000 = inv.guests.get(9000)!;
    await hv.createGuest({ id: 9000, kind: 'vm', settings: desiredSettings(g9000), node: undefined });
    await hv.snapshotGuest(9000, g9000.snapshotName!);
    const before = w.emu.mutatingRequests().length;
    const g = inv.guests.get(1001)!;
    await assert.rejects(
      hv.createGuest({
        id: 1001,
        kind: 'vm',
        settings: desiredSettings(g),
        cloneFrom: { id: 9000, snapshot: g9000.snapshotName },
      }),
      (err: Error) =>
        err instanceof DriverError && /cannot shrink/.test(err.message) && /1001/.test(err.message),
    );
    assert.equal(w.emu.mutatingRequests().length, before, 'nothing was sent');
    assert.equal(w.emu.model.guests.has(1001), false);
  });

  test('a VMID taken by another guest is refused, naming it and its node', async () => {
    w.emu.model.addGuest({ vmid: 900, type: 'qemu', node: 'pve', config: { name: 'squatter' } });
    const before = w.emu.mutatingRequests().length;
    const g = inv.guests.get(900)!;
    await assert.rejects(
      w
        .driver(inv)
        .createGuest({ id: 900, kind: 'lxc', settings: desiredSettings(g), template: g.resources.template }),
      (err: Error) => err instanceof VmidInUse && /VM 900 "squatter" on node pve/.test(err.message),
    );
    assert.equal(w.emu.mutatingRequests().length, before);
    w.emu.model.guests.delete(900);
  });

  test('concurrent creates of one VMID: one create request, the other call refused', async () => {
    const hv = w.driver(inv);
    const g = inv.guests.get(900)!;
    const spec = {
      id: 900,
      kind: 'lxc' as const,
      settings: desiredSettings(g),
      template: g.resources.template,
    };
    const results = await Promise.allSettled([
      hv.createGuest(spec),
      hv.createGuest(spec),
      hv.createGuest(spec),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      assert.match(String((r as PromiseRejectedResult).reason), /900/);
    assert.equal(w.emu.requests.filter((r) => r.method === 'POST' && r.path === '/nodes/pve2/lxc').length, 1);
    // Two drivers (two processes' worth) racing: the cluster's own check makes the loser fail clearly.
    const other = await Promise.allSettled([w.driver(inv).createGuest(spec)]);
    assert.ok(other[0]!.status === 'rejected' && other[0].reason instanceof VmidInUse);
  });
});

describe('cluster behaviour', () => {
  let w: World;
  let inv: Inventory;
  before(async () => {
    w = await world();
    const e = await testEngine(EXAMPLE);
    inv = e.analysis.inventory!;
    cleanup(e);
    w.emu.model.addGuest({
      vmid: 101,
      type: 'lxc',
      node: 'pve',
      status: 'running',
      config: { hostname: 'Nginx-Phoenix', memory: '1024', rootfs: 'local:vm-101-disk-0,size=8G' },
    });
    w.emu.model.addGuest({
      vmid: 1002,
      type: 'qemu',
      node: 'pve3',
      config: { name: 'elsewhere', memory: '2048' },
    });
  });
  after(() => w.emu.close());

  test('a guest on an offline node is reported with its node, never treated as absent', async () => {
    const hv = w.driver(inv);
    await assert.rejects(
      hv.getGuest(1002),
      (err: Error) => err instanceof GuestNodeOffline && err.node === 'pve3' && /pve3/.test(err.message),
    );
    await assert.rejects(
      hv.listGuests(),
      (err: Error) => err instanceof GuestsUnreachable && /node pve3 \(guests 1002\)/.test(err.message),
    );
    assert.equal((await hv.getGuest(101))?.node, 'pve');
    assert.equal(await hv.getGuest(4242), undefined);
  });

  test('the plan marks a guest on an offline node as not observed, not as to be created', async () => {
    const e = await testEngine(EXAMPLE, {
      drivers: ({ inventory, mem }) => ({ ...mem.drivers, hypervisor: w.driver(inventory) }),
    });
    try {
      const plan = await e.plan(
        convergeGraph(e.analysis.inventory!, [e.analysis.inventory!.guests.get(1002)!]),
      );
      const node = plan.nodes.find((n) => n.id === 'guest/1002')!;
      assert.notEqual(node.action, 'create');
      assert.match(node.reason, /pve3/);
    } finally {
      cleanup(e);
    }
  });

  test('a config lock timeout is retried; one that persists is surfaced as retryable with the reason', async () => {
    const hv = w.driver(inv);
    w.emu.model.lockTimeouts.set(101, 2);
    await hv.updateGuest(101, { memoryMb: 2048 });
    assert.equal(w.emu.model.guests.get(101)!.config.memory, '2048');
    const puts = w.emu.requests.filter((r) => r.method === 'PUT' && r.path === '/nodes/pve/lxc/101/config');
    assert.deepEqual(
      puts.map((r) => r.status),
      [500, 500, 200],
    );

    w.emu.model.lockTimeouts.set(101, 100);
    await assert.rejects(
      hv.updateGuest(101, { memoryMb: 3072 }),
      (err: Error) =>
        err instanceof DriverError &&
        err.retryable &&
        err.code === 'pve-config-locked' &&
        /stayed locked/.test(err.message),
    );
    assert.equal(w.emu.model.guests.get(101)!.config.memory, '2048');
    w.emu.model.lockTimeouts.set(101, 0);
  });

  test('a concurrent change between read and write is a ConcurrentChange, not an overwrite', async () => {
    const api = w.api();
    const racing: PveApi = {
      request: (...a) => api.request(...a),
      put: (...a) => api.put(...a),
      post: (...a) => api.post(...a),
      delete: (...a) => api.delete(...a),
      async get<T>(...[path, params, opts]: Parameters<PveApi['get']>) {
        const out = await api.get<T>(path, params, opts);
        if (path === '/nodes/pve/lxc/101/config')
          w.emu.model.touchConfig(101, 'description', 'edited in the UI');
        return out;
      },
    };
    await assert.rejects(
      w.driver(inv, { api: racing }).updateGuest(101, { memoryMb: 1536 }),
      ConcurrentChange,
    );
    assert.equal(w.emu.model.guests.get(101)!.config.memory, '2048');
  });

  test('mutating calls are limited per node', async () => {
    // With a limit of 1 the snapshot tasks run one after another: each POST follows the previous task's end.
    const posts = async (limit: number, names: string[]) => {
      const hv = w.driver(inv, { nodeConcurrency: limit });
      const from = w.emu.requests.length;
      await Promise.all(names.map((n) => hv.snapshotGuest(101, n)));
      return w.emu.requests
        .slice(from)
        .filter((r) => r.method === 'POST' || r.path.endsWith('/status'))
        .map((r) => (r.method === 'POST' ? 'POST' : 'poll'));
    };
    w.emu.model.taskPolls = 2;
    const serial = await posts(1, ['a1', 'a2', 'a3']);
    const parallel = await posts(3, ['b1', 'b2', 'b3']);
    w.emu.model.taskPolls = 1;
    // Each task is polled 3 times (2 × running, then stopped) before the next one is posted.
    assert.deepEqual(serial, Array(3).fill(['POST', 'poll', 'poll', 'poll']).flat());
    assert.equal(parallel.slice(0, 3).join(' '), 'POST POST POST', 'without the limit they overlap');
    assert.deepEqual(
      w.emu.model.guests
        .get(101)!
        .snapshots.map((s) => s.name)
        .sort(),
      ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'],
    );
  });
});
