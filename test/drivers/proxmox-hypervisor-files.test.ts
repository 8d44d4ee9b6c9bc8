import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverError, NotFoundError } from '../../src/drivers/errors.js';
import { PveApiClient } from '../../src/drivers/proxmox/api/index.js';
import { LocalRunner, Pct } from '../../src/drivers/proxmox/cli/index.js';
import { TransportMissing } from '../../src/drivers/proxmox/errors.js';
import { ProxmoxHypervisor } from '../../src/drivers/proxmox/hypervisor.js';
import { installStandIn } from '../emulators/pve-cli/install.js';
import type { StandIn } from '../emulators/pve-cli/install.js';
import { nodeStandIn } from '../emulators/pve-api/node-runner.js';
import type { NodeStandIn } from '../emulators/pve-api/node-runner.js';
import { startPveEmulator } from '../emulators/pve-api/server.js';
import type { PveEmulator } from '../emulators/pve-api/server.js';
import { cleanup, testEngine } from '../helpers/engine.js';
import { fileURLToPath } from 'node:url';
import type { Inventory } from '../../src/model/inventory.js';

/**
 * exec and files through ProxmoxHypervisor: a VM through the guest agent over the REST emulator, an LXC
 * through `pct` (the pve-cli stand-in, run by a LocalRunner), the host through the node stand-in. Each write
 * goes to a staging name and is renamed; attributes read back as seen inside the target.
 */

const EXAMPLE = fileURLToPath(new URL('../../../examples/homelab', import.meta.url));
const TOKEN_ID = 'phoenix@pve!files';
const SECRET = randomUUID();
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

let emu: PveEmulator;
let cli: StandIn;
let dir: string;
let node: NodeStandIn;
let hv: ProxmoxHypervisor;
let bare: ProxmoxHypervisor;
let inv: Inventory;

before(async () => {
  emu = await startPveEmulator({ nodes: ['pve'] });
  emu.tokens.set(TOKEN_ID, SECRET);
  emu.model.execPolls = 0;
  emu.model.taskPolls = 0;
  emu.model.addGuest({
    vmid: 1001,
    type: 'qemu',
    node: 'pve',
    status: 'running',
    config: { name: 'vm', agent: '1' },
  });
  emu.model.addGuest({ vmid: 101, type: 'lxc', node: 'pve', status: 'running', config: { hostname: 'ct' } });
  dir = await mkdtemp(join(tmpdir(), 'phoenix-pve-files-'));
  cli = await installStandIn(join(dir, 'cli'), {
    '101': {
      type: 'lxc',
      status: 'running',
      config: { hostname: 'ct' },
      users: { root: 0, 'www-data': 33 },
      groups: { root: 0, 'ssl-cert': 111 },
    },
  });
  const runner = new LocalRunner({
    env: { ...process.env, PATH: `${cli.binDir}:${process.env.PATH}`, TMPDIR: dir },
  });
  node = nodeStandIn(emu.model);
  const e = await testEngine(EXAMPLE);
  inv = e.analysis.inventory!;
  cleanup(e);
  const api = new PveApiClient({
    host: emu.host,
    port: emu.port,
    auth: { kind: 'token', tokenId: TOKEN_ID, secret: SECRET },
    trust: { fingerprint: emu.tls.fingerprint },
    retry: { attempts: 2, baseDelayMs: 5 },
  });
  const tasks = { pollMs: 2, maxPollMs: 5 };
  hv = new ProxmoxHypervisor({ api, inventory: inv, pct: new Pct(runner), node, tasks });
  bare = new ProxmoxHypervisor({ api, inventory: inv, tasks });
});
after(async () => {
  await emu.close();
  await rm(dir, { recursive: true, force: true });
});

describe('VM through the guest agent', () => {
  test('writeFile stages, sets owner and mode, renames; readFile returns bytes and attributes', async () => {
    await hv.writeFile(1001, '/etc/app/app.conf', text('port=1\n'), { owner: 33, group: 33, mode: 0o640 });
    const writes = emu.requests.filter((r) => r.path.endsWith('/agent/file-write'));
    assert.match(String(writes.at(-1)!.params.file), /^\/etc\/app\/\.app\.conf\.phoenix-[0-9a-f]{8}$/);
    const vm = emu.model.guests.get(1001)!;
    assert.deepEqual([...vm.files.keys()], ['/etc/app/app.conf'], 'no staging file is left');
    const read = await hv.readFile(1001, '/etc/app/app.conf');
    assert.equal(str(read!.content), 'port=1\n');
    // stat resolves ids through the guest's accounts, as the configuration names them (an id without an entry stays numeric).
    assert.deepEqual(read!.attrs, { owner: 'www-data', group: 'www-data', mode: 0o640 });
  });

  test('rename within a directory, remove (idempotent), a missing file reads as undefined', async () => {
    await hv.renameFile(1001, '/etc/app/app.conf', '/etc/app/app.old');
    assert.equal(await hv.readFile(1001, '/etc/app/app.conf'), undefined);
    assert.equal(str((await hv.readFile(1001, '/etc/app/app.old'))!.content), 'port=1\n');
    await assert.rejects(hv.renameFile(1001, '/etc/app/nothing', '/etc/app/x'), NotFoundError);
    await assert.rejects(hv.renameFile(1001, '/etc/app/app.old', '/tmp/app.old'), /within one directory/);
    await hv.removeFile(1001, '/etc/app/app.old');
    await hv.removeFile(1001, '/etc/app/app.old');
    assert.equal(emu.model.guests.get(1001)!.files.size, 0);
  });

  test('exec returns the exit code and output; stdin passes as text', async () => {
    assert.deepEqual(await hv.exec(1001, ['echo', 'hello']), { exitCode: 0, stdout: 'hello\n', stderr: '' });
    assert.equal((await hv.exec(1001, ['false'])).exitCode, 1);
    assert.equal((await hv.exec(1001, ['cat'], { input: text('in') })).stdout, 'in');
  });
});

describe('LXC through pct', () => {
  test('writeFile pushes a staging name with owner and mode, then mv; readFile reads them back', async () => {
    await hv.writeFile(101, '/etc/ssl/private/a.key', text('KEY'), {
      owner: 'root',
      group: 'ssl-cert',
      mode: 0o640,
    });
    const state = await cli.readState();
    const push = state.log.find((l) => l[0] === 'pct' && l[1] === 'push')!;
    assert.match(push[4]!, /^\/etc\/ssl\/private\/\.a\.key\.phoenix-[0-9a-f]{8}$/);
    assert.deepEqual(push.slice(5), ['--user', 'root', '--group', 'ssl-cert', '--perms', '0640']);
    const read = await hv.readFile(101, '/etc/ssl/private/a.key');
    assert.equal(str(read!.content), 'KEY');
    assert.deepEqual(read!.attrs, { owner: 'root', group: 111, mode: 0o640 });
    assert.deepEqual(
      Object.keys(state.files).filter((k) => k.includes('phoenix-')),
      [],
    );
  });

  test('exec runs inside the container; a missing file reads as undefined', async () => {
    assert.equal((await hv.exec(101, ['cat', '/etc/ssl/private/a.key'])).stdout, 'KEY');
    assert.equal(await hv.readFile(101, '/etc/nothing'), undefined);
    await hv.removeFile(101, '/etc/ssl/private/a.key');
    assert.equal(await hv.readFile(101, '/etc/ssl/private/a.key'), undefined);
  });

  test('without pct, container exec and files are refused clearly', async () => {
    await assert.rejects(
      bare.exec(101, ['true']),
      (err: Error) => err instanceof TransportMissing && /pct/.test(err.message),
    );
  });
});

describe('the host through the node runner', () => {
  test('write, read, rename, remove', async () => {
    await hv.writeFile('host', '/etc/phoenix/x.pem', text('PEM'), { owner: 0, group: 0, mode: 0o600 });
    assert.deepEqual((await hv.readFile('host', '/etc/phoenix/x.pem'))!.attrs, {
      owner: 'root',
      group: 'root',
      mode: 0o600,
    });
    await hv.renameFile('host', '/etc/phoenix/x.pem', '/etc/phoenix/y.pem');
    assert.equal(str((await hv.readFile('host', '/etc/phoenix/y.pem'))!.content), 'PEM');
    await hv.removeFile('host', '/etc/phoenix/y.pem');
    assert.equal(node.files.size, 0);
    await assert.rejects(bare.exec('host', ['true']), TransportMissing);
  });
});

describe('paths are validated before anything runs', () => {
  for (const bad of ['relative/path', '/etc/../shadow', '/etc/./x', '/', '/a\nb'])
    test(JSON.stringify(bad), async () => {
      const before = emu.requests.length;
      await assert.rejects(
        hv.writeFile(1001, bad, text('x'), { owner: 0, group: 0, mode: 0o600 }),
        DriverError,
      );
      assert.equal(
        emu.requests.filter((r) => r.method !== 'GET').length,
        emu.requests.slice(0, before).filter((r) => r.method !== 'GET').length,
      );
    });
});
