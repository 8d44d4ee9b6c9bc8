import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertLoopback, isLoopbackV4, labAddress } from '../../src/lab/address.js';
import { Sandbox, sandboxUnsupported } from '../../src/lab/sandbox.js';
import { effectiveIdMap } from '../../src/model/idmap.js';
import type { GuestSettings } from '../../src/drivers/hypervisor/types.js';

const SETTINGS: GuestSettings = {
  name: 'gw',
  onBoot: true,
  bootOrder: 1,
  bootDelaySeconds: 0,
  unprivileged: true,
};
/** Proxmox's unprivileged map with the usual www-data hole: guest gid 33 is host gid 33. */
const ID_MAP = effectiveIdMap(true, [{ type: 'gid', container_id: 33, host_id: 33, size: 1 }]);
const text = (s: string) => new TextEncoder().encode(s);

const SKIP = sandboxUnsupported();
function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(executable);
const SKIP_NGINX = SKIP ?? (NGINX ? undefined : 'nginx is not installed');
const OPENSSL = ['/usr/bin/openssl'].find(executable);
const SKIP_OPENSSL = OPENSSL ? undefined : 'openssl is not installed (needed to make a test certificate)';

/**
 * A lab directory of its own; afterwards every sandbox in it is halted through its recorded pids (and
 * whatever still runs in its mount namespace), even when the test failed half-way, then the tree goes.
 */
async function tempGuests(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-sandbox-'));
  // mkdtemp makes 0700; the guests' shifted root must be able to pass through to reach its rootfs.
  await chmod(dir, 0o711);
  const guests = join(dir, 'guests');
  t.after(async () => {
    for (const sandbox of await Sandbox.list(guests)) await sandbox.halt(2000);
    await rm(dir, { recursive: true, force: true });
  });
  return guests;
}

async function runningSandbox(t: TestContext, id = 101): Promise<Sandbox> {
  const sandbox = await Sandbox.create(await tempGuests(t), {
    id,
    kind: 'lxc',
    settings: SETTINGS,
    idMap: ID_MAP,
    template: 'debian-12',
  });
  await sandbox.start();
  return sandbox;
}

/** A host tool the test itself needs (not the code under test). */
function run(file: string, args: string[]): Promise<{ exitCode: number; stderr: string }> {
  return new Promise((resolve) =>
    execFile(file, args, (error, _stdout, stderr) =>
      resolve({ exitCode: error ? Number(error.code ?? 1) : 0, stderr: String(stderr) }),
    ),
  );
}

/** Gone, or a zombie nobody reaped yet: either way no longer running. */
async function gone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function hostIds(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

function tryConnect(host: string, port: number): Promise<'open' | string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.end();
  });
}

/** A 127/8 address nobody on this machine listens on :80, different per run so test runs can overlap. */
async function freeLoopback(): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const address = `127.0.${(process.pid + i) % 250}.${2 + Math.floor(Math.random() * 250)}`;
    if ((await tryConnect(address, 80)) === 'ECONNREFUSED') return address;
  }
  throw new Error('no free loopback address found');
}

test('labAddress keeps the last three octets under 127/8 and refuses what would not land there', () => {
  assert.equal(labAddress('10.0.0.153'), '127.0.0.153');
  assert.equal(labAddress('10.0.0.153/24'), '127.0.0.153');
  assert.equal(labAddress('192.168.1.20'), '127.168.1.20');
  assert.equal(labAddress('127.1.2.3'), '127.1.2.3');
  for (const bad of [
    'dhcp',
    '',
    '10.0.0',
    '10.0.0.256',
    '::1',
    'fe80::1',
    '10.0.0.1/33',
    ' 10.0.0.1',
    '010.0.0.1x',
  ]) {
    assert.throws(() => labAddress(bad), /cannot map/, bad);
  }
  // The /8's own network and broadcast addresses would not be reachable as a guest.
  assert.throws(() => labAddress('10.0.0.0'), /network or broadcast/);
  assert.throws(() => labAddress('10.255.255.255'), /network or broadcast/);
  assert.equal(isLoopbackV4('127.0.0.153'), true);
  assert.equal(isLoopbackV4('10.0.0.153'), false);
  assert.throws(() => assertLoopback('10.0.0.153', 'listen address'), /not in 127\.0\.0\.0\/8/);
});

test(
  'the uid shift, on real files: host root is nobody inside, guest root:www-data 0640 is readable by both',
  { skip: SKIP },
  async (t) => {
    const sandbox = await runningSandbox(t);

    // Pushed as HOST root:root 0600, the way a script on the Proxmox host drops a key into the rootfs.
    await writeFile(join(sandbox.rootfs, 'etc/host-key.pem'), 'host secret\n', { mode: 0o600 });
    const denied = await sandbox.exec(['cat', '/etc/host-key.pem']);
    assert.equal(denied.exitCode, 1);
    assert.match(denied.stderr, /Permission denied/);
    assert.equal((await sandbox.exec(['stat', '-c', '%u:%g', '/etc/host-key.pem'])).stdout, '65534:65534\n');
    assert.deepEqual((await sandbox.readFile('/etc/host-key.pem'))?.attrs, {
      owner: 'nobody',
      group: 'nogroup',
      mode: 0o600,
    });

    // Pushed through the driver as the guest's root:www-data 0640: stored as host 100000:33.
    await sandbox.writeFile('/etc/nginx/ssl/gw.key', text('guest key\n'), {
      owner: 'root',
      group: 'www-data',
      mode: 0o640,
    });
    const onHost = await stat(join(sandbox.rootfs, 'etc/nginx/ssl/gw.key'));
    assert.deepEqual([onHost.uid, onHost.gid, onHost.mode & 0o7777], [100000, 33, 0o640]);
    const parent = await stat(join(sandbox.rootfs, 'etc/nginx/ssl'));
    assert.deepEqual([parent.uid, parent.gid], [100000, 100000], 'new parents belong to the guest root');
    assert.deepEqual(await sandbox.exec(['cat', '/etc/nginx/ssl/gw.key']), {
      exitCode: 0,
      stdout: 'guest key\n',
      stderr: '',
    });
    const asWorker = await sandbox.exec(['cat', '/etc/nginx/ssl/gw.key'], { user: 'www-data' });
    assert.equal(asWorker.exitCode, 0, asWorker.stderr);
    assert.equal(asWorker.stdout, 'guest key\n');
    assert.equal((await sandbox.exec(['stat', '-c', '%u:%g', '/etc/nginx/ssl/gw.key'])).stdout, '0:33\n');
    assert.deepEqual((await sandbox.readFile('/etc/nginx/ssl/gw.key'))?.attrs, {
      owner: 'root',
      group: 'www-data',
      mode: 0o640,
    });

    // The analysis' failure: a post-renewal chmod 600 by the guest's root locks the worker out.
    await sandbox.writeFile('/etc/nginx/ssl/gw.key', text('guest key\n'), {
      owner: 'root',
      group: 'root',
      mode: 0o600,
    });
    const lockedOut = await sandbox.exec(['cat', '/etc/nginx/ssl/gw.key'], { user: 'www-data' });
    assert.equal(lockedOut.exitCode, 1);
    assert.match(lockedOut.stderr, /Permission denied/);

    assert.equal((await sandbox.exec(['id', '-u'], { user: 'www-data' })).stdout, '33\n');
    await assert.rejects(sandbox.exec(['id'], { user: 'nosuchuser' }), /user nosuchuser does not exist/);
  },
);

test('exec passes input, reports exit codes and times out', { skip: SKIP }, async (t) => {
  const sandbox = await runningSandbox(t);
  assert.deepEqual(await sandbox.exec(['cat'], { input: text('piped\n') }), {
    exitCode: 0,
    stdout: 'piped\n',
    stderr: '',
  });
  const missing = await sandbox.exec(['no-such-command']);
  assert.equal(missing.exitCode, 127);
  assert.equal((await sandbox.exec(['sh', '-c', 'exit 7'])).exitCode, 7);
  await assert.rejects(sandbox.exec(['sleep', '30'], { timeoutMs: 200 }), /timed out after 200 ms/);
  // The environment is the guest's, not the host's.
  const env = await sandbox.exec(['env']);
  assert.match(env.stdout, /^HOME=\/root$/m);
  assert.doesNotMatch(env.stdout, /NODE|npm_/);
});

test('file paths never leave the rootfs', { skip: SKIP }, async (t) => {
  const guests = await tempGuests(t);
  const sandbox = await Sandbox.create(guests, { id: 102, kind: 'lxc', settings: SETTINGS, idMap: ID_MAP });
  const attrs = { owner: 'root', group: 'root', mode: 0o644 };
  for (const bad of ['relative/file', '/etc/../etc/passwd', '/etc/./x', '/']) {
    await assert.rejects(sandbox.writeFile(bad, text('x'), attrs), /invalid path/, bad);
    await assert.rejects(sandbox.readFile(bad), /invalid path/, bad);
  }
  // A link the guest made to an absolute path means the guest's /etc, but on the host it is the host's.
  await symlink('/etc', join(sandbox.rootfs, 'escape'));
  const hostPasswd = await readFile('/etc/passwd', 'utf8');
  await assert.rejects(
    sandbox.writeFile('/escape/passwd', text('pwned\n'), attrs),
    /outside the guest's root/,
  );
  await assert.rejects(sandbox.writeFile('/escape/new/file', text('x'), attrs), /outside the guest's root/);
  await assert.rejects(sandbox.readFile('/escape/passwd'), /outside the guest's root/);
  await symlink('/etc/passwd', join(sandbox.rootfs, 'etc/leak'));
  await assert.rejects(sandbox.readFile('/etc/leak'), /outside the guest's root/);
  assert.equal(await readFile('/etc/passwd', 'utf8'), hostPasswd);
  // A relative link that stays inside is fine.
  await symlink('etc', join(sandbox.rootfs, 'etc-link'));
  await sandbox.writeFile('/etc-link/motd', text('hi\n'), attrs);
  assert.equal(await readFile(join(sandbox.rootfs, 'etc/motd'), 'utf8'), 'hi\n');
  // The host's trees are bound over these inside: the host's view of them is an empty mount point.
  await assert.rejects(sandbox.writeFile('/usr/local/bin/x', text('x'), attrs), /binds from the host/);
  await assert.rejects(
    sandbox.writeFile('/etc/motd', text('x'), { ...attrs, owner: 'nobody-here' }),
    /invalid user/,
  );
  await sandbox.removeFile('/etc/not-there');
  await sandbox.removeFile('/etc/motd');
  assert.equal(await sandbox.readFile('/etc/motd'), undefined);
});

test(
  'a service with inherited privileged-port sockets: nginx in the sandbox serves :80, stop leaves nothing',
  { skip: SKIP_NGINX },
  async (t) => {
    const sandbox = await runningSandbox(t, 103);
    const address = await freeLoopback();
    const body = `hello from the lab on ${address}\n`;
    const conf = [
      'user www-data;',
      'worker_processes 1;',
      'daemon off;',
      'pid /run/nginx-lab.pid;',
      'error_log /var/log/nginx/lab-error.log info;',
      'events { worker_connections 64; }',
      'http {',
      '  access_log /var/log/nginx/lab-access.log;',
      '  client_body_temp_path /tmp/nginx-body;',
      '  proxy_temp_path /tmp/nginx-proxy;',
      '  fastcgi_temp_path /tmp/nginx-fastcgi;',
      '  uwsgi_temp_path /tmp/nginx-uwsgi;',
      '  scgi_temp_path /tmp/nginx-scgi;',
      `  server { listen ${address}:80; root /var/www/lab; index index.html; }`,
      '}',
      '',
    ].join('\n');
    await sandbox.writeFile('/etc/nginx/lab.conf', text(conf), { owner: 'root', group: 'root', mode: 0o644 });
    // Readable only through the www-data group, which the map's hole makes host gid 33: the worker must use it.
    await sandbox.writeFile('/var/www/lab/index.html', text(body), {
      owner: 'root',
      group: 'www-data',
      mode: 0o640,
    });
    // nginx binds its listeners even for -t: without host-made sockets a user namespace gets EACCES on :80.
    const bare = await sandbox.exec(['nginx', '-t', '-c', '/etc/nginx/lab.conf']);
    assert.equal(bare.exitCode, 1);
    assert.match(bare.stderr, /bind\(\) to [\d.]+:80 failed \(13: Permission denied\)/);
    const checked = await sandbox.exec(['nginx', '-t', '-c', '/etc/nginx/lab.conf'], {
      check: [{ address, port: 80 }],
    });
    assert.equal(checked.exitCode, 0, checked.stderr);

    const pid = await sandbox.spawnService(['nginx', '-c', '/etc/nginx/lab.conf'], {
      name: 'nginx',
      listen: [{ address, port: 80 }],
      logFile: '/var/log/nginx/lab-service.log',
    });
    const tracked = await sandbox.trackedPids();
    assert.ok(tracked.includes(pid));

    const got = await httpGet(address, 80);
    assert.deepEqual(got, { status: 200, body });
    // The worker answered, so it exists now: everything running inside the sandbox.
    const inside = await sandbox.processes();
    assert.deepEqual(await hostIds(pid), { uid: 100000, gid: 100000 }, 'the master runs as the guest root');
    const workers = inside.filter((p) => p !== pid);
    assert.ok(workers.length >= 1, 'a worker runs');
    assert.deepEqual(await hostIds(workers[0]!), { uid: 100033, gid: 33 }, 'the worker runs as www-data');
    // Logged on stderr before the configuration is read, so into the service's log file.
    const log = new TextDecoder().decode((await sandbox.readFile('/var/log/nginx/lab-service.log'))?.content);
    assert.match(log, /using inherited sockets from "\d+;"/);

    // Next to the running nginx the port is taken: the check still passes, as it does beside a real one.
    const beside = await sandbox.exec(['nginx', '-t', '-c', '/etc/nginx/lab.conf'], {
      check: [{ address, port: 80 }],
    });
    assert.equal(beside.exitCode, 0, beside.stderr);
    // A listener outside 127/8 is refused before anything starts.
    await assert.rejects(
      sandbox.spawnService(['nginx'], {
        listen: [{ address: '10.0.0.153', port: 80 }],
        logFile: '/tmp/x.log',
      }),
      /not in 127\.0\.0\.0\/8/,
    );
    // A service that cannot start reports why.
    await assert.rejects(
      sandbox.spawnService(['nginx', '-c', '/etc/nginx/missing.conf'], { logFile: '/var/log/nginx/bad.log' }),
      /exited right away[\s\S]*missing\.conf/,
    );

    const report = await sandbox.stop();
    assert.equal(report.holder, tracked[0]);
    for (const p of [...tracked, ...inside]) assert.ok(await gone(p), `pid ${p} is gone`);
    assert.equal(await sandbox.status(), 'stopped');
    assert.equal(await tryConnect(address, 80), 'ECONNREFUSED', 'nothing listens any more');
  },
);

test(
  'the analysis reproduced: nginx -t fails on a host-root-owned 0600 key, passes on root:www-data 0640',
  { skip: SKIP_NGINX ?? SKIP_OPENSSL },
  async (t) => {
    const sandbox = await runningSandbox(t, 104);
    const address = await freeLoopback();
    const work = await mkdtemp(join(tmpdir(), 'phoenix-sandbox-pki-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const made = await run(OPENSSL!, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=gw.internal.test',
      '-keyout',
      join(work, 'key.pem'),
      '-out',
      join(work, 'cert.pem'),
    ]);
    assert.equal(made.exitCode, 0, made.stderr);
    const conf = [
      'pid /run/nginx-rca.pid;',
      'error_log /var/log/nginx/rca-error.log;',
      'events { worker_connections 16; }',
      'http {',
      '  access_log off;',
      `  server { listen ${address}:443 ssl; ssl_certificate /etc/nginx/ssl/gw.crt; ssl_certificate_key /etc/nginx/ssl/gw.key; }`,
      '}',
      '',
    ].join('\n');
    const rootFile = { owner: 'root', group: 'root', mode: 0o644 };
    await sandbox.writeFile('/etc/nginx/rca.conf', text(conf), rootFile);
    await sandbox.writeFile('/etc/nginx/ssl/gw.crt', await readFile(join(work, 'cert.pem')), rootFile);
    // What the renewal script on the Proxmox host did: the key lands as HOST root:root 0600.
    await writeFile(join(sandbox.rootfs, 'etc/nginx/ssl/gw.key'), await readFile(join(work, 'key.pem')), {
      mode: 0o600,
    });
    const nginxTest = () =>
      sandbox.exec(['nginx', '-t', '-c', '/etc/nginx/rca.conf'], { check: [{ address, port: 443 }] });
    const broken = await nginxTest();
    assert.equal(broken.exitCode, 1);
    assert.match(
      broken.stderr,
      /cannot load certificate key "\/etc\/nginx\/ssl\/gw\.key"[\s\S]*Permission denied/,
    );
    // The remediation: the key installed as the guest's root:www-data 0640.
    const key = await readFile(join(work, 'key.pem'));
    await sandbox.writeFile('/etc/nginx/ssl/gw.key', key, { owner: 'root', group: 'www-data', mode: 0o640 });
    const fixed = await nginxTest();
    assert.equal(fixed.exitCode, 0, fixed.stderr);
  },
);
