import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriverError, MutationRefused, NotFoundError } from '../../src/drivers/errors.js';
import { readOnly } from '../../src/drivers/guard.js';
import { createCsr, generateKey, parseCertificate } from '../../src/certs/x509.js';
import { HYPERVISOR_MUTATIONS } from '../../src/drivers/hypervisor/types.js';
import type { GuestKind, GuestSettings } from '../../src/drivers/hypervisor/types.js';
import { createMemoryDrivers } from '../../src/drivers/memory/index.js';
import type { MemoryHypervisor } from '../../src/drivers/memory/index.js';

const SETTINGS: GuestSettings = { name: 'gw', onBoot: true, bootOrder: 1, bootDelaySeconds: 0, diskGb: 8 };
const text = (s: string) => new TextEncoder().encode(s);
const ROOT_FILE = { owner: 'root', group: 'root', mode: 0o644 };

async function running(hv: MemoryHypervisor, id: number, kind: GuestKind = 'lxc') {
  await hv.createGuest({ id, kind, settings: SETTINGS, template: 'debian-12' });
  await hv.startGuest(id);
}

test('creating an id that exists fails like pct/qm, for containers and VMs', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  await hv.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
  await assert.rejects(hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS }), /CT 101 already exists/);
  await assert.rejects(
    hv.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS }),
    /VM 1001 already exists/,
  );
  const guest = await hv.getGuest(101);
  assert.equal(guest?.status, 'stopped', 'a new guest is created stopped');
});

test('a clone needs its source, and the snapshot when one is named', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await assert.rejects(
    hv.createGuest({ id: 102, kind: 'lxc', settings: SETTINGS, cloneFrom: { id: 900 } }),
    (err: unknown) => err instanceof NotFoundError,
  );
  await hv.createGuest({ id: 900, kind: 'lxc', settings: SETTINGS });
  await assert.rejects(
    hv.createGuest({ id: 102, kind: 'lxc', settings: SETTINGS, cloneFrom: { id: 900, snapshot: 'base' } }),
    /snapshot 'base' does not exist/,
  );
  assert.equal(await hv.getGuest(102), undefined, 'a failed clone leaves nothing behind');
});

test('a clone from a snapshot gets the snapshot filesystem, not later changes', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await hv.createGuest({ id: 900, kind: 'lxc', settings: SETTINGS });
  await hv.writeFile(900, '/etc/motd', text('v1'), ROOT_FILE);
  await hv.snapshotGuest(900, 'base');
  await hv.writeFile(900, '/etc/motd', text('v2'), ROOT_FILE);
  await hv.createGuest({
    id: 102,
    kind: 'lxc',
    settings: SETTINGS,
    cloneFrom: { id: 900, snapshot: 'base' },
  });
  const read = await hv.readFile(102, '/etc/motd');
  assert.equal(new TextDecoder().decode(read?.content), 'v1');
  await assert.rejects(hv.snapshotGuest(900, 'base'), /snapshot name 'base' already used/);
  assert.deepEqual((await hv.getGuest(900))?.snapshots, ['base']);
});

test('start is idempotent, a running guest cannot be destroyed, a stopped one can', async () => {
  const { hypervisor: hv, world } = createMemoryDrivers();
  await running(hv, 101);
  const before = world.operations;
  await hv.startGuest(101);
  assert.equal(world.operations, before, 'starting a running guest changes nothing');
  await assert.rejects(hv.deleteGuest(101), /CT 101 is running - destroy failed/);
  await hv.stopGuest(101);
  await hv.deleteGuest(101);
  assert.equal(await hv.getGuest(101), undefined);
  await assert.rejects(hv.deleteGuest(101), (err: unknown) => err instanceof NotFoundError);
});

test('stopping a stopped container fails like pct; a stopped VM stops quietly like qm', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  await hv.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
  await assert.rejects(hv.stopGuest(101), /CT 101 not running/);
  await hv.stopGuest(1001);
  assert.equal((await hv.getGuest(1001))?.status, 'stopped');
});

test('only a stopped guest becomes a template, and a template cannot be started', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await running(hv, 900);
  await assert.rejects(hv.markTemplate(900), /if the CT is running/);
  await hv.stopGuest(900);
  await hv.markTemplate(900);
  assert.equal((await hv.getGuest(900))?.template, true);
  await assert.rejects(hv.startGuest(900), /template/);
  await assert.rejects(hv.markTemplate(900), /template to a template/);
});

test('updates merge settings; a missing guest, a smaller disk and the unprivileged flag are refused', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await assert.rejects(hv.updateGuest(404, { cores: 2 }), (err: unknown) => err instanceof NotFoundError);
  await hv.createGuest({ id: 101, kind: 'lxc', settings: { ...SETTINGS, unprivileged: true } });
  await hv.updateGuest(101, { cores: 4, diskGb: 16 });
  const settings = (await hv.getGuest(101))?.settings;
  assert.equal(settings?.cores, 4);
  assert.equal(settings?.diskGb, 16);
  assert.equal(settings?.name, 'gw', 'unchanged settings are kept');
  await assert.rejects(hv.updateGuest(101, { diskGb: 8 }), /unable to shrink disk size/);
  await assert.rejects(hv.updateGuest(101, { unprivileged: false }), /read-only option: 'unprivileged'/);
});

test('observations are copies: changing one does not change the world', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  const seen = (await hv.getGuest(101))!;
  (seen.settings as { name: string }).name = 'changed';
  assert.equal((await hv.getGuest(101))?.settings.name, 'gw');
});

test('exec runs only in a running guest', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  await hv.createGuest({ id: 1001, kind: 'vm', settings: SETTINGS });
  await assert.rejects(hv.exec(101, ['true']), /CT 101 not running/);
  await assert.rejects(hv.exec(1001, ['true']), /VM 1001 not running/);
  await assert.rejects(hv.exec(404, ['true']), (err: unknown) => err instanceof NotFoundError);
  await hv.startGuest(101);
  assert.equal((await hv.exec(101, ['true'])).exitCode, 0);
});

test('an unknown command is 127 "command not found", on guests and on the host', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await running(hv, 101);
  for (const target of [101, 'host'] as const) {
    const result = await hv.exec(target, ['pveversion']);
    assert.equal(result.exitCode, 127);
    assert.match(result.stderr, /pveversion: command not found/);
  }
  assert.equal((await hv.exec('host', ['docker', 'restart', 'x'])).exitCode, 127, 'the host has no docker');
});

test('nginx -t fails, like nginx, when a configured certificate file is missing', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await running(hv, 101);
  const attrs = { owner: 'root', group: 'root', mode: 0o644 };
  const conf =
    'server {\n  listen 443 ssl;\n  ssl_certificate /etc/nginx/ssl/a.crt;\n  ssl_certificate_key /etc/nginx/ssl/a.key;\n}\n';
  await hv.writeFile(101, '/etc/nginx/conf.d/site.conf', new TextEncoder().encode(conf), attrs);
  const missing = await hv.exec(101, ['nginx', '-t']);
  assert.equal(missing.exitCode, 1);
  assert.match(missing.stderr, /cannot load certificate "\/etc\/nginx\/ssl\/a\.crt"/);
  await hv.writeFile(101, '/etc/nginx/ssl/a.crt', new TextEncoder().encode('x'), attrs);
  assert.match(
    (await hv.exec(101, ['nginx', '-t'])).stderr,
    /cannot load certificate key "\/etc\/nginx\/ssl\/a\.key"/,
  );
  await hv.writeFile(101, '/etc/nginx/ssl/a.key', new TextEncoder().encode('x'), { ...attrs, mode: 0o600 });
  assert.match((await hv.exec(101, ['nginx', '-t'])).stderr, /key values mismatch/);
});

test('the emulated nginx serves what its last successful load read; a failed reload keeps the old certificate', async () => {
  const mem = createMemoryDrivers();
  const hv = mem.hypervisor;
  await running(hv, 101);
  const attrs = { owner: 'root', group: 'root', mode: 0o644 };
  const enc = (t: string) => new TextEncoder().encode(t);
  const issue = async () => {
    const key = await generateKey('ecdsa-p256');
    const csrPem = await createCsr(key.keyPem, {
      commonName: 'a.test',
      dnsNames: ['a.test'],
      ipAddresses: [],
    });
    const cert = await mem.issuer.issue({
      csrPem,
      commonName: 'a.test',
      dnsNames: ['a.test'],
      ipAddresses: [],
      usage: 'server',
    });
    return { key: key.keyPem, cert: cert.certPem, serial: (await parseCertificate(cert.certPem)).serial };
  };
  const install = async (p: { key: string; cert: string }) => {
    await hv.writeFile(101, '/etc/nginx/ssl/a.crt', enc(p.cert), attrs);
    await hv.writeFile(101, '/etc/nginx/ssl/a.key', enc(p.key), { ...attrs, mode: 0o600 });
  };
  const conf =
    'server {\n  listen 443 ssl;\n  server_name a.test;\n  ssl_certificate /etc/nginx/ssl/a.crt;\n  ssl_certificate_key /etc/nginx/ssl/a.key;\n}\n';
  await hv.writeFile(101, '/etc/nginx/conf.d/site.conf', enc(conf), attrs);
  const first = await issue();
  await install(first);
  const ok = await hv.exec(101, ['nginx', '-t']);
  assert.equal(ok.exitCode, 0);
  assert.match(ok.stderr, /test is successful/);
  const probe = { guest: 101, port: 443, serverName: 'a.test' } as const;
  await assert.rejects(mem.drivers.tls.served(probe), /ECONNREFUSED/, 'nothing listens before nginx starts');
  assert.equal((await hv.exec(101, ['systemctl', 'start', 'nginx'])).exitCode, 0);
  assert.equal((await mem.drivers.tls.served(probe)).serial, first.serial);

  const second = await issue();
  await install({ key: first.key, cert: second.cert });
  const bad = await hv.exec(101, ['systemctl', 'reload', 'nginx']);
  assert.equal(bad.exitCode, 1);
  assert.match(bad.stderr, /key values mismatch/);
  assert.equal(
    (await mem.drivers.tls.served(probe)).serial,
    first.serial,
    'the old certificate is still served',
  );

  await install(second);
  assert.equal((await hv.exec(101, ['systemctl', 'reload', 'nginx'])).exitCode, 0);
  assert.equal((await mem.drivers.tls.served(probe)).serial, second.serial);
  await assert.rejects(mem.drivers.tls.served({ ...probe, serverName: 'b.test' }), /handshake rejected/);
  await hv.exec(101, ['systemctl', 'stop', 'nginx']);
  await assert.rejects(mem.drivers.tls.served(probe), /ECONNREFUSED/);
});

test('renameFile moves a file within its directory and refuses another directory or a missing source', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await running(hv, 101);
  const attrs = { owner: 'root', group: 'root', mode: 0o640 };
  await hv.writeFile(101, '/etc/a/.x.new', new TextEncoder().encode('new'), attrs);
  await hv.renameFile(101, '/etc/a/.x.new', '/etc/a/x');
  assert.equal(new TextDecoder().decode((await hv.readFile(101, '/etc/a/x'))!.content), 'new');
  assert.equal(await hv.readFile(101, '/etc/a/.x.new'), undefined);
  await assert.rejects(hv.renameFile(101, '/etc/a/x', '/etc/b/x'), /within one directory/);
  await assert.rejects(
    hv.renameFile(101, '/etc/a/nope', '/etc/a/x'),
    (e: unknown) => e instanceof NotFoundError,
  );
});

test('systemctl: reload installs and counts, is-active answers 0/3, stop and reload follow systemd', async () => {
  const { hypervisor: hv, world } = createMemoryDrivers();
  await running(hv, 101);
  assert.deepEqual(await hv.exec(101, ['systemctl', 'is-active', 'nginx']), {
    exitCode: 3,
    stdout: 'inactive\n',
    stderr: '',
  });
  assert.equal((await hv.exec(101, ['systemctl', 'reload', 'nginx'])).exitCode, 0);
  assert.equal((await hv.exec(101, ['/usr/bin/systemctl', 'reload', 'nginx.service'])).exitCode, 0);
  assert.equal(world.guest(101)?.services.nginx?.reloads, 2, 'nginx and nginx.service are one unit');
  assert.equal((await hv.exec(101, ['systemctl', 'is-active', 'nginx'])).exitCode, 0);
  assert.equal((await hv.exec(101, ['systemctl', 'stop', 'nginx'])).exitCode, 0);
  const reload = await hv.exec(101, ['systemctl', 'reload', 'nginx']);
  assert.equal(reload.exitCode, 1);
  assert.match(reload.stderr, /not active, cannot reload/);
  assert.equal((await hv.exec(101, ['systemctl', 'stop', 'dnsmasq'])).exitCode, 5);
  await hv.exec(101, ['systemctl', 'restart', 'nginx']);
  assert.equal(world.guest(101)?.services.nginx?.restarts, 1);
  assert.equal(world.guest(101)?.services.nginx?.active, true);
  assert.equal(world.state.host.services.nginx, undefined, 'services belong to one guest');
});

test('services are enabled units: they stop with the guest and come back when it starts', async () => {
  const { hypervisor: hv, world } = createMemoryDrivers();
  await running(hv, 101);
  await hv.exec(101, ['systemctl', 'start', 'nginx']);
  await hv.stopGuest(101);
  assert.equal(world.guest(101)?.services.nginx?.active, false);
  await hv.startGuest(101);
  assert.equal(world.guest(101)?.services.nginx?.active, true);
});

test('docker restart of a missing container exits 1 with the daemon message', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await running(hv, 1001, 'vm');
  const result = await hv.exec(1001, ['docker', 'restart', 'portainer_server']);
  assert.equal(result.exitCode, 1);
  assert.equal(result.stderr, 'Error response from daemon: No such container: portainer_server\n');
});

test('docker restart of an existing container restarts it at the clock time', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { hypervisor: hv, containers } = createMemoryDrivers({ now: () => now });
  await running(hv, 1001, 'vm');
  const compose =
    'services:\n  server:\n    image: portainer/portainer-ce\n    container_name: portainer_server\n';
  await containers.deployStack(1001, { name: 'portainer', compose, env: {}, contentHash: 'h1' });
  now = new Date('2030-01-01T01:00:00Z');
  const result = await hv.exec(1001, ['docker', 'restart', 'portainer_server']);
  assert.deepEqual(result, { exitCode: 0, stdout: 'portainer_server\n', stderr: '' });
  assert.equal((await containers.getContainer(1001, 'portainer_server'))?.startedAt, now.toISOString());
});

test('test -r and cat see the guest filesystem; true is 0', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await running(hv, 101);
  await hv.writeFile(101, '/etc/nginx/ssl/a.key', text('KEY'), {
    owner: 'root',
    group: 'www-data',
    mode: 0o640,
  });
  assert.equal((await hv.exec(101, ['test', '-r', '/etc/nginx/ssl/a.key'])).exitCode, 0);
  assert.equal((await hv.exec(101, ['test', '-r', '/etc/nginx/ssl/b.key'])).exitCode, 1);
  assert.deepEqual(await hv.exec(101, ['cat', '/etc/nginx/ssl/a.key']), {
    exitCode: 0,
    stdout: 'KEY',
    stderr: '',
  });
  const missing = await hv.exec(101, ['cat', '/nope']);
  assert.equal(missing.exitCode, 1);
  assert.match(missing.stderr, /cat: \/nope: No such file or directory/);
  assert.equal(
    (await hv.exec('host', ['cat', '/etc/nginx/ssl/a.key'])).exitCode,
    1,
    'the host has its own files',
  );
});

test('files keep content, owner, group and mode exactly, per guest and on the host', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  const attrs = { owner: 'root', group: 'www-data', mode: 0o640 };
  const bytes = new Uint8Array([0, 1, 2, 255]);
  await hv.writeFile(101, '/etc/nginx/ssl/a.key', bytes, attrs);
  await hv.writeFile('host', '/etc/dnsmasq.d/phoenix.conf', text('x'), { owner: 0, group: 0, mode: 0o600 });
  const read = await hv.readFile(101, '/etc/nginx/ssl/a.key');
  assert.deepEqual(read, { content: bytes, attrs });
  assert.deepEqual((await hv.readFile('host', '/etc/dnsmasq.d/phoenix.conf'))?.attrs, {
    owner: 0,
    group: 0,
    mode: 0o600,
  });
  assert.equal(await hv.readFile(101, '/etc/dnsmasq.d/phoenix.conf'), undefined);
  assert.deepEqual((await hv.readFile(101, '/etc//nginx/ssl/a.key'))?.content, bytes, 'paths are normalised');
});

test('file operations need an existing guest and an absolute path; removal is idempotent', async () => {
  const { hypervisor: hv, world } = createMemoryDrivers();
  await assert.rejects(
    hv.writeFile(404, '/etc/x', text('x'), ROOT_FILE),
    (e: unknown) => e instanceof NotFoundError,
  );
  await assert.rejects(hv.readFile(404, '/etc/x'), (e: unknown) => e instanceof NotFoundError);
  await assert.rejects(hv.writeFile('host', 'etc/x', text('x'), ROOT_FILE), /must be absolute/);
  await assert.rejects(hv.writeFile('host', '/etc/../x', text('x'), ROOT_FILE), /must be absolute/);
  await assert.rejects(
    hv.writeFile('host', '/etc/x', text('x'), { ...ROOT_FILE, mode: 0o10000 }),
    /invalid file mode/,
  );
  await hv.writeFile('host', '/etc/x', text('x'), ROOT_FILE);
  await hv.removeFile('host', '/etc/x');
  const after = world.operations;
  await hv.removeFile('host', '/etc/x');
  assert.equal(world.operations, after, 'removing a missing file changes nothing');
  assert.equal(await hv.readFile('host', '/etc/x'), undefined);
});

test('a fault rule fails the matching calls the given number of times, then lets them through', async () => {
  const { hypervisor: hv } = createMemoryDrivers({
    faults: [
      { method: 'createGuest', times: 2, error: { message: 'CT 101 config lock timeout', retryable: true } },
      { method: 'startGuest', match: (args) => args[0] === 102, error: { message: 'boom' } },
    ],
  });
  for (let attempt = 0; attempt < 2; attempt++) {
    await assert.rejects(
      hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS }),
      (err: unknown) =>
        err instanceof DriverError && err.retryable && /config lock timeout/.test(err.message),
    );
  }
  await hv.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS });
  await hv.createGuest({ id: 102, kind: 'lxc', settings: SETTINGS });
  await hv.startGuest(101);
  await assert.rejects(hv.startGuest(102), (err: unknown) => err instanceof DriverError && !err.retryable);
  await hv.startGuest(102);
  assert.equal(hv.calls.get('createGuest'), 4);
  assert.equal(hv.calls.get('startGuest'), 3);
  assert.equal((await hv.getGuest(102))?.status, 'running');
});

test('faults can be added after the drivers were created', async () => {
  const { hypervisor: hv } = createMemoryDrivers();
  hv.faults.push({ method: 'listGuests', error: { message: 'API busy', retryable: true } });
  await assert.rejects(hv.listGuests(), /API busy/);
  assert.deepEqual(await hv.listGuests(), []);
});

test('calls and mutations are counted, and onCall sees every call in order', async () => {
  const seen: string[] = [];
  const { hypervisor: hv } = createMemoryDrivers({ latencyMs: 0, onCall: (method) => seen.push(method) });
  await running(hv, 101);
  await hv.listGuests();
  await hv.exec(101, ['true']);
  assert.deepEqual(seen, ['createGuest', 'startGuest', 'listGuests', 'exec']);
  assert.equal(hv.mutations, 3);
  assert.equal(hv.calls.get('listGuests'), 1);
});

test('latency delays every call; 0 does not sleep at all', async () => {
  const settled = async (promise: Promise<unknown>) => {
    let done = false;
    void promise.then(() => (done = true));
    // A timer cannot fire before setImmediate; promise jobs without a sleep all run before it.
    await new Promise((resolve) => setImmediate(resolve));
    return done;
  };
  const slow = createMemoryDrivers({ latencyMs: 20 }).hypervisor;
  const fast = createMemoryDrivers({ latencyMs: 0 }).hypervisor;
  const pending = slow.listGuests();
  assert.equal(await settled(pending), false);
  assert.deepEqual(await pending, []);
  assert.equal(await settled(fast.listGuests()), true);
});

test('behind the read-only guard every mutation is refused and nothing is counted or changed', async () => {
  const { hypervisor: hv, world } = createMemoryDrivers();
  const guarded = readOnly(hv, HYPERVISOR_MUTATIONS, 'hypervisor');
  const attempts: Record<(typeof HYPERVISOR_MUTATIONS)[number], () => Promise<unknown>> = {
    createGuest: () => guarded.createGuest({ id: 101, kind: 'lxc', settings: SETTINGS }),
    updateGuest: () => guarded.updateGuest(101, { cores: 2 }),
    startGuest: () => guarded.startGuest(101),
    stopGuest: () => guarded.stopGuest(101),
    deleteGuest: () => guarded.deleteGuest(101),
    snapshotGuest: () => guarded.snapshotGuest(101, 'base'),
    markTemplate: () => guarded.markTemplate(101),
    exec: () => guarded.exec('host', ['true']),
    writeFile: () => guarded.writeFile('host', '/etc/x', text('x'), ROOT_FILE),
    removeFile: () => guarded.removeFile('host', '/etc/x'),
    renameFile: () => guarded.renameFile('host', '/etc/x', '/etc/y'),
  };
  for (const method of HYPERVISOR_MUTATIONS) {
    await assert.rejects(attempts[method](), (err: unknown) => err instanceof MutationRefused, method);
  }
  assert.deepEqual(await guarded.listGuests(), [], 'reads pass through');
  assert.equal(hv.mutations, 0);
  assert.equal(world.operations, 0);
  assert.equal(hv.calls.get('listGuests'), 1);
});
