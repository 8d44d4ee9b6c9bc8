import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalRunner, Pvesh, PveshApi } from '../../src/drivers/proxmox/cli/index.js';
import type { CommandRunner } from '../../src/drivers/proxmox/cli/index.js';
import { ProxmoxHypervisor } from '../../src/drivers/proxmox/hypervisor.js';
import { convergeGraph, deleteGraph, letsGoGraph, powerGraph } from '../../src/engine/verbs.js';
import { nodeStandIn } from '../emulators/pve-api/node-runner.js';
import { startPveEmulator } from '../emulators/pve-api/server.js';
import { installStandIn } from '../emulators/pve-cli/install.js';
import { cleanup, testEngine } from '../helpers/engine.js';
import type { TestEngine } from '../helpers/engine.js';
import { SKIP_SSH, startSshd } from '../helpers/sshd.js';

/**
 * ProxmoxHypervisor with its API over pvesh (PveshApi), locally and over SSH, through the real engine: the
 * lifecycle of two of the example's guests (CT 900, the base CT 103 is cloned from, and CT 103) — create,
 * converge (drift repaired with the digest), start, stop, delete. The pvesh stand-in forwards to the REST
 * emulator, so the cluster is the one proxmox-hypervisor.test.ts drives over HTTPS.
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const FAST = { pollMs: 2, maxPollMs: 10, timeoutMs: 20_000 };
const STORAGES = ['local', 'quickOS-lxc-disks', 'quickOS-vm-disks', 'fastData-shared-iso'];
const GiB = 2 ** 30;
const TOKEN_ID = 'root@pam!pvesh';
const SECRET = randomUUID();

const failures = (e: TestEngine) =>
  e.events.flatMap((ev) =>
    ev.type === 'node-end' && ev.outcome === 'failed' ? [`${ev.id}: ${ev.error}`] : [],
  );

async function lifecycle(t: TestContext, transport: 'local' | 'ssh'): Promise<void> {
  const emu = await startPveEmulator({ nodes: [] });
  t.after(() => emu.close());
  emu.tokens.set(TOKEN_ID, SECRET);
  emu.model.addNode('pve', { mem: 40 * GiB, storages: STORAGES.filter((s) => s !== 'quickOS-vm-disks') });
  emu.model.addNode('pve2', { mem: 8 * GiB, storages: STORAGES });
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-hv-pvesh-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const standIn = await installStandIn(join(dir, 'emu'), {}, 'pve', {
    forward: {
      url: `https://${emu.host}:${emu.port}`,
      tokenId: TOKEN_ID,
      secret: SECRET,
      caPem: emu.tls.rootPem,
    },
  });
  const path = `${standIn.binDir}:/usr/local/bin:/usr/bin:/bin`;
  const runner: CommandRunner =
    transport === 'local'
      ? new LocalRunner({ env: { ...process.env, PATH: path } })
      : (await startSshd(t, { setEnv: { PATH: path } })).runner();
  const node = nodeStandIn(emu.model);
  const e = await testEngine(EXAMPLE, {
    drivers: ({ inventory, mem }) => ({
      ...mem.drivers,
      hypervisor: new ProxmoxHypervisor({
        api: new PveshApi(new Pvesh(runner), { retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } }),
        inventory,
        node,
        tasks: FAST,
      }),
    }),
  });
  t.after(() => cleanup(e));
  const inv = e.analysis.inventory!;
  const ct103 = inv.guests.get(103)!;
  const ct900 = inv.guests.get(900)!;

  // create (103 is cloned from 900: the closure creates 900, its snapshot, then the clone)
  let result = await e.sync({ graph: convergeGraph(inv, [ct103]) });
  assert.deepEqual(failures(e), []);
  assert.equal(result.outcome, 'ok');
  assert.deepEqual([...emu.model.guests.keys()].sort(), [103, 900]);
  for (const g of emu.model.guests.values()) assert.equal(g.node, 'pve2', `placement of ${g.vmid}`);
  const log = (await standIn.readState()).log.map((argv) => argv.slice(0, 3).join(' '));
  assert.ok(log.includes('pvesh create /nodes/pve2/lxc'), 'the create went through pvesh');
  assert.ok(!JSON.stringify(await standIn.readState()).includes(SECRET), 'no token in any argv');

  // converge: nothing to do, and the plan mutates nothing; then drift is shown and repaired
  const mutating = emu.mutatingRequests().length;
  const plan = await e.plan(convergeGraph(inv, [ct103]));
  assert.deepEqual(
    plan.nodes.filter((n) => n.action !== 'noop').map((n) => n.id),
    [],
  );
  const declared = ct103.resources.memoryMb!;
  emu.model.guests.get(103)!.config.memory = String(declared / 2);
  const drift = await e.plan(convergeGraph(inv, [ct103]));
  assert.deepEqual(drift.nodes.find((n) => n.id === 'guest/103')!.changes, [
    { field: 'memoryMb', from: declared / 2, to: declared },
  ]);
  assert.equal(emu.mutatingRequests().length, mutating, 'plan sent no mutating request');
  result = await e.sync({ graph: convergeGraph(inv, [ct103]) });
  assert.equal(result.outcome, 'ok');
  assert.equal(emu.model.guests.get(103)!.config.memory, String(declared));
  const put = emu.mutatingRequests().slice(mutating);
  assert.deepEqual(
    put.map((r) => `${r.method} ${r.path}`),
    ['PUT /nodes/pve2/lxc/103/config'],
  );
  assert.match(String(put[0]!.params.digest), /^[0-9a-f]{40}$/);

  // start, stop
  result = await e.sync({ graph: powerGraph([ct103], 'running') });
  assert.deepEqual(failures(e), []);
  assert.equal(emu.model.guests.get(103)!.status, 'running');
  result = await e.sync({ graph: powerGraph([ct103], 'stopped') });
  assert.deepEqual(failures(e), []);
  assert.equal(emu.model.guests.get(103)!.status, 'stopped');

  // delete (the clone before its source)
  result = await e.sync({ graph: deleteGraph(inv, [ct103, ct900], true) });
  assert.deepEqual(failures(e), []);
  assert.equal(result.outcome, 'ok');
  assert.equal(emu.model.guests.size, 0);
  const deletes = emu.requests.filter((r) => r.method === 'DELETE').map((r) => r.path);
  assert.deepEqual(deletes, ['/nodes/pve2/lxc/103', '/nodes/pve2/lxc/900']);
}

test('ProxmoxHypervisor over pvesh (local runner): create, converge, start, stop, delete', (t) =>
  lifecycle(t, 'local'));

test(
  'ProxmoxHypervisor over pvesh over SSH: create, converge, start, stop, delete',
  { skip: SKIP_SSH },
  (t) => lifecycle(t, 'ssh'),
);

test('the whole example over pvesh (local runner): LetsGo in dependency and boot order, then stop and delete everything', async (t) => {
  const emu = await startPveEmulator({ nodes: [] });
  t.after(() => emu.close());
  emu.tokens.set(TOKEN_ID, SECRET);
  emu.model.addNode('pve2', { mem: 40 * GiB, storages: STORAGES });
  emu.model.execPolls = 0;
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-hv-pvesh-all-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const standIn = await installStandIn(join(dir, 'emu'), {}, 'pve2', {
    forward: {
      url: `https://${emu.host}:${emu.port}`,
      tokenId: TOKEN_ID,
      secret: SECRET,
      caPem: emu.tls.rootPem,
    },
  });
  const runner = new LocalRunner({
    env: { ...process.env, PATH: `${standIn.binDir}:/usr/local/bin:/usr/bin:/bin` },
  });
  const e = await testEngine(EXAMPLE, {
    drivers: ({ inventory, mem }) => ({
      ...mem.drivers,
      hypervisor: new ProxmoxHypervisor({
        api: new PveshApi(new Pvesh(runner), { retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } }),
        inventory,
        node: nodeStandIn(emu.model),
        tasks: FAST,
        agentTimeoutMs: 5_000,
      }),
    }),
  });
  t.after(() => cleanup(e));
  const inv = e.analysis.inventory!;
  const all = [...inv.guests.values()];
  const startable = all.filter((g) => !g.isTemplate && g.boot.onBoot);

  let result = await e.sync({ graph: letsGoGraph(inv) });
  assert.deepEqual(failures(e), []);
  assert.equal(result.outcome, 'ok');
  assert.deepEqual(
    [...emu.model.guests.keys()].sort((a, b) => a - b),
    all.map((g) => g.id).sort((a, b) => a - b),
  );
  for (const g of startable) assert.equal(emu.model.guests.get(g.id)!.status, 'running', `guest ${g.id}`);
  const starts = emu.requests
    .filter((r) => r.path.endsWith('/status/start'))
    .map((r) => Number(r.path.split('/')[4]));
  const order = (id: number) => inv.guests.get(id)!.boot.order;
  for (let i = 1; i < starts.length; i++)
    assert.ok(
      order(starts[i - 1]!) <= order(starts[i]!) || order(starts[i]!) === 0,
      `boot order: ${starts.join(', ')}`,
    );

  result = await e.sync({ graph: powerGraph(startable, 'stopped') });
  assert.deepEqual(failures(e), []);
  result = await e.sync({ graph: deleteGraph(inv, all, true) });
  assert.deepEqual(failures(e), []);
  assert.equal(result.outcome, 'ok');
  assert.equal(emu.model.guests.size, 0);
});
