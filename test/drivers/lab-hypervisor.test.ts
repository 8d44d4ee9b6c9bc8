import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverError, NotFoundError } from '../../src/drivers/errors.js';
import type { ExecResult, GuestSettings } from '../../src/drivers/hypervisor/types.js';
import { LabHypervisor } from '../../src/drivers/lab/hypervisor.js';
import type { LabHypervisorOptions } from '../../src/drivers/lab/hypervisor.js';
import { labAddress } from '../../src/lab/address.js';
import { Sandbox, sandboxUnsupported } from '../../src/lab/sandbox.js';
import { effectiveIdMap } from '../../src/model/idmap.js';
import type { GuestRef } from '../../src/model/inventory.js';

const SKIP = sandboxUnsupported();
const SKIP_NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].some((p) => existsSync(p))
  ? undefined
  : 'nginx is not installed';
const SETTINGS: GuestSettings = {
  name: 'gw',
  onBoot: true,
  bootOrder: 1,
  bootDelaySeconds: 0,
  unprivileged: true,
  ip: '10.0.0.153/24',
  diskGb: 8,
};
const ID_MAP = effectiveIdMap(true, [{ type: 'gid', container_id: 33, host_id: 33, size: 1 }]);
const text = (s: string) => new TextEncoder().encode(s);
const decode = (b?: Uint8Array) => new TextDecoder().decode(b);

/**
 * A lab of its own. Afterwards every guest in it is halted through its recorded pids (and whatever still
 * runs in its mount namespace), even when the test failed half-way, then the directory goes.
 */
async function tempLab(t: TestContext, extra: Partial<LabHypervisorOptions> = {}): Promise<LabHypervisor> {
  const labDir = await mkdtemp(join(tmpdir(), 'phoenix-lab-'));
  t.after(async () => {
    for (const sandbox of await Sandbox.list(join(labDir, 'guests'))) await sandbox.halt(2000);
    await rm(labDir, { recursive: true, force: true });
  });
  return new LabHypervisor({
    labDir,
    guests: (id) =>
      id < 1000 ? { unprivileged: true, idMap: ID_MAP, address: `10.0.0.${id - 0}` } : undefined,
    ...extra,
  });
}

test(
  'guests are created stopped, once, and a second driver on the same lab sees them',
  { skip: SKIP },
  async (t) => {
    const hv = await tempLab(t);
    await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS, template: 'debian-12' });
    await assert.rejects(
      hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS }),
      /unable to create CT 101 - CT 101 already exists on node 'pve'/,
    );
    await hv.createGuest({ id: 1001, kind: 'vm', settings: { ...SETTINGS, unprivileged: undefined } });
    assert.deepEqual(
      (await hv.listGuests()).map((g) => [g.id, g.kind, g.status, g.template]),
      [
        [101, 'lxc', 'stopped', false],
        [1001, 'vm', 'stopped', false],
      ],
    );
    assert.equal(await hv.address(101), '127.0.0.101');

    await hv.startGuest(101);
    await hv.startGuest(101); // idempotent, like the emulator
    const later = new LabHypervisor({ labDir: hv.labDir });
    const seen = await later.getGuest(101);
    assert.equal(seen?.status, 'running', 'running state is re-derived from the recorded holder');
    assert.deepEqual(seen?.settings, SETTINGS);
    assert.equal((await later.exec(101, ['id', '-u'])).stdout, '0\n');
    await later.stopGuest(101);
    assert.equal((await hv.getGuest(101))?.status, 'stopped');
    assert.equal(await hv.getGuest(555), undefined);

    await assert.rejects(hv.updateGuest(101, { unprivileged: false }), /read-only option: 'unprivileged'/);
    await assert.rejects(hv.updateGuest(101, { diskGb: 4 }), /unable to shrink disk size/);
    await hv.updateGuest(101, { cores: 2, diskGb: 16 });
    assert.equal((await later.getGuest(101))?.settings.cores, 2);
  },
);

test(
  'exec and stop on a stopped guest fail like pct; a running guest cannot be destroyed',
  { skip: SKIP },
  async (t) => {
    const hv = await tempLab(t);
    await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
    await hv.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
    await assert.rejects(
      hv.exec(101, ['true']),
      (e: unknown) => e instanceof DriverError && e.message === 'CT 101 not running',
    );
    await assert.rejects(hv.exec(1001, ['true']), /VM 1001 not running/);
    await assert.rejects(hv.stopGuest(101), /CT 101 not running/);
    await hv.stopGuest(1001); // qm stops a stopped VM quietly
    await assert.rejects(hv.exec(101, []), /empty argv/);
    await assert.rejects(hv.exec(999, ['true']), (e: unknown) => e instanceof NotFoundError);

    await hv.startGuest(101);
    const sandbox = await hv.sandbox(101);
    const holder = (await sandbox.trackedPids())[0]!;
    await assert.rejects(hv.deleteGuest(101), /CT 101 is running - destroy failed/);
    await assert.rejects(hv.markTemplate(101), /can't convert a CT to template if the CT is running/);
    await hv.stopGuest(101);
    await assert.rejects(stat(`/proc/${holder}/ns`), 'the holder is gone');
    await hv.deleteGuest(101);
    assert.equal(await hv.getGuest(101), undefined);
    await assert.rejects(hv.deleteGuest(101), (e: unknown) => e instanceof NotFoundError);
    assert.deepEqual(await readdir(hv.guestsDir), ['1001']);
  },
);

test('clone copies the root filesystem with its shifted ownership', { skip: SKIP }, async (t) => {
  const hv = await tempLab(t);
  await hv.createGuest({ id: 900, kind: 'lxc', settings: SETTINGS });
  await hv.writeFile(900, '/etc/nginx/ssl/gw.key', text('key\n'), {
    owner: 'root',
    group: 'www-data',
    mode: 0o640,
  });
  await hv.writeFile(900, '/var/lib/app/data', text('data\n'), {
    owner: 'www-data',
    group: 'www-data',
    mode: 0o600,
  });
  await hv.createGuest({
    id: 102,
    kind: 'lxc',
    settings: { ...SETTINGS, name: 'clone' },
    cloneFrom: { id: 900 },
  });

  const clone = await hv.sandbox(102);
  const key = await stat(join(clone.rootfs, 'etc/nginx/ssl/gw.key'));
  assert.deepEqual([key.uid, key.gid, key.mode & 0o7777], [100000, 33, 0o640]);
  const data = await stat(join(clone.rootfs, 'var/lib/app/data'));
  assert.deepEqual([data.uid, data.gid, data.mode & 0o7777], [100033, 33, 0o600]);
  assert.ok((await lstat(join(clone.rootfs, 'bin'))).isSymbolicLink() || (await lstat('/bin')).isDirectory());
  assert.deepEqual((await hv.readFile(102, '/etc/nginx/ssl/gw.key'))?.attrs, {
    owner: 'root',
    group: 'www-data',
    mode: 0o640,
  });
  // The clone is a real guest: it boots, and its www-data reads the key through the group.
  await hv.startGuest(102);
  const read = await (await hv.sandbox(102)).exec(['cat', '/etc/nginx/ssl/gw.key'], { user: 'www-data' });
  assert.equal(read.stdout, 'key\n');

  await assert.rejects(
    hv.createGuest({ id: 103, kind: 'lxc', settings: SETTINGS, cloneFrom: { id: 555 } }),
    (e: unknown) => e instanceof NotFoundError,
  );
  await assert.rejects(
    hv.createGuest({ id: 1003, kind: 'vm', settings: SETTINGS, cloneFrom: { id: 900 } }),
    /cannot clone CT 900 into a VM/,
  );
});

test(
  'snapshot, then clone from the snapshot: the clone gets the snapshot, not later changes',
  { skip: SKIP },
  async (t) => {
    const hv = await tempLab(t);
    const root = { owner: 'root', group: 'root', mode: 0o644 };
    await hv.createGuest({ id: 900, kind: 'lxc', settings: SETTINGS });
    await hv.writeFile(900, '/etc/motd', text('v1\n'), root);
    await hv.snapshotGuest(900, 'base');
    await hv.writeFile(900, '/etc/motd', text('v2\n'), root);
    await assert.rejects(hv.snapshotGuest(900, 'base'), /snapshot name 'base' already used/);
    await assert.rejects(hv.snapshotGuest(900, '1bad'), /invalid configuration ID '1bad'/);
    await assert.rejects(
      hv.createGuest({ id: 102, kind: 'lxc', settings: SETTINGS, cloneFrom: { id: 900, snapshot: 'nope' } }),
      /snapshot 'nope' does not exist/,
    );
    assert.equal(await hv.getGuest(102), undefined, 'a failed clone leaves nothing behind');
    assert.deepEqual(
      (await readdir(hv.guestsDir)).filter((n) => n.startsWith('.')),
      [],
      'no staging directory is left over',
    );

    await hv.createGuest({
      id: 102,
      kind: 'lxc',
      settings: SETTINGS,
      cloneFrom: { id: 900, snapshot: 'base' },
    });
    assert.equal(decode((await hv.readFile(102, '/etc/motd'))?.content), 'v1\n');
    assert.equal(decode((await hv.readFile(900, '/etc/motd'))?.content), 'v2\n');
    assert.deepEqual((await hv.getGuest(900))?.snapshots, ['base']);
    assert.deepEqual((await hv.getGuest(102))?.snapshots, []);

    await hv.markTemplate(900);
    await assert.rejects(hv.markTemplate(900), /can't convert a template to a template/);
    await assert.rejects(hv.startGuest(900), /you can't start a CT if it's a template/);
    assert.equal((await hv.getGuest(900))?.template, true);
  },
);

test(
  'commands: the hook is consulted first; unhandled host commands are refused plainly',
  { skip: SKIP },
  async (t) => {
    const seen: Array<[GuestRef, readonly string[]]> = [];
    const hv = await tempLab(t, {
      commandHandler: async (target, argv): Promise<ExecResult | undefined> => {
        seen.push([target, argv]);
        return argv[0] === 'systemctl'
          ? { exitCode: 0, stdout: `handled ${argv.join(' ')}\n`, stderr: '' }
          : undefined;
      },
    });
    await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
    await assert.rejects(hv.exec(101, ['systemctl', 'reload', 'nginx']), /CT 101 not running/);
    assert.deepEqual(seen, [], 'a stopped guest refuses before any emulation');
    await hv.startGuest(101);
    assert.equal(
      (await hv.exec(101, ['systemctl', 'reload', 'nginx'])).stdout,
      'handled systemctl reload nginx\n',
    );
    assert.equal((await hv.exec(101, ['echo', 'real'])).stdout, 'real\n', 'others run in the sandbox');
    assert.equal((await hv.exec('host', ['systemctl', 'reload', 'nginx'])).exitCode, 0);
    await assert.rejects(
      hv.exec('host', ['pvesm', 'status']),
      (e: unknown) => e instanceof DriverError && /cannot run "pvesm status" on the host/.test(e.message),
    );
  },
);

test('host files live under <labDir>/host/rootfs with their own ownership', { skip: SKIP }, async (t) => {
  const hv = await tempLab(t);
  await hv.writeFile('host', '/etc/phoenix/ca.pem', text('ca\n'), {
    owner: 'root',
    group: 'www-data',
    mode: 0o640,
  });
  const st = await stat(join(hv.hostRootfs, 'etc/phoenix/ca.pem'));
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 33, 0o640], 'the host is not shifted');
  assert.deepEqual((await hv.readFile('host', '/etc/phoenix/ca.pem'))?.attrs, {
    owner: 'root',
    group: 'www-data',
    mode: 0o640,
  });
  await hv.removeFile('host', '/etc/phoenix/ca.pem');
  assert.equal(await hv.readFile('host', '/etc/phoenix/ca.pem'), undefined);
  // A mkdtemp lab directory (0700) was opened up just enough for shifted ids to pass through.
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  assert.equal((await stat(hv.labDir)).mode & 0o001, 0o001);
  await chmod(hv.labDir, 0o700);
  await hv.startGuest(101);
  assert.equal((await hv.exec(101, ['true'])).exitCode, 0);
});

test(
  "nginx -t through exec gets the guest's privileged listeners, bound by host root",
  { skip: SKIP ?? SKIP_NGINX },
  async (t) => {
    // 10.a.b.c → 127.a.b.c, unique per run so parallel runs do not meet on the same address.
    const address = `10.1.${process.pid % 250}.${2 + Math.floor(Math.random() * 250)}`;
    const hv = await tempLab(t, {
      guests: () => ({ unprivileged: true, idMap: ID_MAP, address, privilegedPorts: [80] }),
    });
    const lab = labAddress(address);
    await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
    assert.deepEqual(await hv.listeners(101), [{ address: lab, port: 80 }]);
    await hv.startGuest(101);
    const conf = `pid /run/t.pid; error_log stderr; events {} http { access_log off; server { listen ${lab}:80; } }\n`;
    await hv.writeFile(101, '/etc/nginx/t.conf', text(conf), { owner: 'root', group: 'root', mode: 0o644 });
    const checked = await hv.exec(101, ['nginx', '-t', '-c', '/etc/nginx/t.conf']);
    assert.equal(checked.exitCode, 0, checked.stderr);
    // Any other command runs without them: nginx started by hand would meet the user namespace's EACCES.
    const direct = await hv.exec(101, ['nginx', '-c', '/etc/nginx/t.conf', '-g', 'daemon off;'], {
      timeoutMs: 5000,
    });
    assert.equal(direct.exitCode, 1);
    assert.match(direct.stderr, /bind\(\) to [\d.]+:80 failed \(13: Permission denied\)/);
  },
);
