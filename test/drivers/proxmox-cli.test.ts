import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DeadlineExceeded, DriverError } from '../../src/drivers/errors.js';
import {
  AGENT_WRITE_CHUNK_BYTES,
  CliCommandFailed,
  CliConfigLocked,
  CliOutputError,
  LocalRunner,
  Pct,
  Pvesh,
  Qm,
  SshError,
  SshRunner,
  agentReadFile,
  agentWriteFile,
} from '../../src/drivers/proxmox/cli/index.js';
import type { CommandRunner } from '../../src/drivers/proxmox/cli/index.js';
import { remoteCommand, shellQuote } from '../../src/drivers/proxmox/cli/quote.js';
import { installStandIn } from '../emulators/pve-cli/install.js';
import type { StandIn } from '../emulators/pve-cli/install.js';
import type { EmuGuest } from '../emulators/pve-cli/state.js';
import { SKIP_SSH, freePort, startSshd as startSshdWith } from '../helpers/sshd.js';
import type { Sshd } from '../helpers/sshd.js';

const run = promisify(execFile);
const bytes = (s: string) => new TextEncoder().encode(s);

const GUESTS = (): Record<string, EmuGuest> => ({
  '101': {
    type: 'lxc',
    status: 'running',
    config: { hostname: 'gw', memory: 512, unprivileged: 1 },
    users: { root: 0, 'www-data': 33 },
    groups: { root: 0, 'ssl-cert': 111 },
    services: { nginx: 'active' },
  },
  '102': { type: 'lxc', status: 'stopped', config: { hostname: 'db', memory: 1024 } },
  '1001': { type: 'qemu', status: 'running', config: { name: 'docker', agent: '1', memory: 4096 } },
  '1002': { type: 'qemu', status: 'running', config: { name: 'noagent', memory: 2048 } },
});

interface Env {
  readonly emu: StandIn;
  /** The node's temp dir (TMPDIR of the commands): staged files must be gone from it afterwards. */
  readonly nodeTmp: string;
  readonly local: LocalRunner;
}

async function standIn(t: TestContext): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-pvecli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const emu = await installStandIn(join(dir, 'emu'), GUESTS());
  const nodeTmp = join(dir, 'node-tmp');
  await mkdir(nodeTmp);
  await mkdir(join(emu.root(101), 'etc/ssl/private'), { recursive: true });
  await writeFile(join(emu.root(101), 'etc/hostname'), 'gw\n');
  await mkdir(join(emu.root(1001), 'opt/app'), { recursive: true });
  const local = new LocalRunner({
    env: { ...process.env, PATH: `${emu.binDir}:${process.env.PATH}`, TMPDIR: nodeTmp },
  });
  return { emu, nodeTmp, local };
}

/** The shared loopback sshd (test/helpers/sshd.ts) with the stand-in first in PATH and the node's TMPDIR. */
function startSshd(t: TestContext, env: Env): Promise<Sshd> {
  return startSshdWith(t, {
    setEnv: { PATH: `${env.emu.binDir}:/usr/local/bin:/usr/bin:/bin`, TMPDIR: env.nodeTmp },
  });
}

// ---------------------------------------------------------------------------------------------- quoting

/** A small seeded PRNG (mulberry32): the property test is reproducible. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ATOMS = [
  "'",
  '"',
  ' ',
  '  ',
  '$',
  '`',
  '\\',
  '\n',
  '\t',
  '*',
  '?',
  '~',
  '!',
  '#',
  ';',
  '&',
  '|',
  '<',
  '>',
  '(',
  ')',
  '{',
  '}',
  '[',
  ']',
  '=',
  '%',
  '-',
  '--',
  'a',
  'Z',
  '0',
  'é',
  '日本',
  '\u00a0',
  '$(id)',
  '${HOME}',
  "'\\''",
  '\r',
  '\x01',
];

function randomArg(rand: () => number): string {
  const n = Math.floor(rand() * 8);
  let s = '';
  for (let i = 0; i < n; i++) s += ATOMS[Math.floor(rand() * ATOMS.length)]!;
  return s;
}

test('shellQuote: arbitrary strings round-trip through a real sh -c and bash -c as one argv element each', async () => {
  const rand = prng(20240607);
  const cases: string[][] = [[''], ["'"], ["it's"], ['a b', '$HOME', '`id`', 'x\ny', '\\'], ['-n'], ['*']];
  for (let i = 0; i < 200; i++)
    cases.push(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomArg(rand)));
  // All cases in one script per shell, joined with ';': a quoting mistake would also bleed into the
  // following commands. Each case prints its argument count, then every argument, NUL-terminated.
  const script = cases
    .map(
      (args) =>
        `${remoteCommand(['printf', '%s\\0', String(args.length)])}; ${remoteCommand(['printf', '%s\\0', ...args])}`,
    )
    .join('; ');
  for (const shell of ['sh', 'bash']) {
    const { stdout } = await run(shell, ['-c', script], {
      encoding: 'buffer',
      env: { PATH: process.env.PATH ?? '' },
      maxBuffer: 1 << 24,
    });
    const items = stdout.toString('utf8').split('\0');
    let i = 0;
    for (const args of cases) {
      const n = Number(items[i++]);
      const got = items.slice(i, i + n);
      i += n;
      assert.deepEqual(
        got,
        args,
        `${shell}: ${JSON.stringify(args)} via ${JSON.stringify(remoteCommand(args))}`,
      );
    }
    assert.equal(i, items.length - 1, 'nothing extra was printed');
  }
  assert.equal(shellQuote("a'b"), `'a'\\''b'`);
  assert.throws(() => shellQuote('a\0b'), DriverError);
  assert.throws(() => remoteCommand([]), DriverError);
});

// ---------------------------------------------------------------------------------------------- local

test('pct over the local runner: status, config, exec, missing CT, stopped CT', async (t) => {
  const { local, emu } = await standIn(t);
  const pct = new Pct(local);
  assert.equal(await pct.status(101), 'running');
  assert.equal(await pct.status(102), 'stopped');
  assert.deepEqual(await pct.config(101), { hostname: 'gw', memory: '512', unprivileged: '1' });

  const cat = await pct.exec(101, ['cat', '/etc/hostname']);
  assert.deepEqual([cat.exitCode, cat.stdout], [0, 'gw\n']);
  assert.equal((await pct.exec(101, ['false'])).exitCode, 1, "the command's exit status is returned");
  const missing = await pct.exec(101, ['nosuchcmd']);
  assert.equal(missing.exitCode, 127);
  assert.match(missing.stderr, /Failed to exec "nosuchcmd"/);
  await assert.rejects(pct.execChecked(101, ['cat', '/nope']), (e: unknown) => {
    assert.ok(e instanceof CliCommandFailed);
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /cat: \/nope: No such file or directory/);
    return true;
  });
  const piped = await pct.exec(101, ['cat'], { input: bytes('from stdin') });
  assert.equal(piped.stdout, 'from stdin');

  await assert.rejects(pct.status(999), (e: unknown) => {
    assert.ok(e instanceof CliCommandFailed);
    assert.equal(e.exitCode, 255);
    assert.equal(e.stderr, "Configuration file 'nodes/pve/lxc/999.conf' does not exist");
    assert.equal(e.retryable, false);
    return true;
  });
  await assert.rejects(pct.exec(102, ['true']), /container '102' not running!/);
  await assert.rejects(pct.stop(102), /pct stop 102 failed \(exit 255\): CT 102 not running/);
  await pct.start(102);
  assert.equal(await pct.status(102), 'running');

  const log = (await emu.readState()).log;
  assert.deepEqual(
    log.find((l) => l[1] === 'exec'),
    ['pct', 'exec', '101', '--keep-env', '0', '--', 'cat', '/etc/hostname'],
  );
});

async function checkPushPull(runner: CommandRunner, env: Env): Promise<void> {
  const pct = new Pct(runner);
  const key = new Uint8Array(randomBytes(3000));
  key[0] = 0; // binary content with NUL bytes survives
  await pct.push(101, '/etc/ssl/private/key.pem', key, { user: 'www-data', group: 111, perms: 0o640 });
  assert.deepEqual(new Uint8Array(await readFile(join(env.emu.root(101), 'etc/ssl/private/key.pem'))), key);
  const state = await env.emu.readState();
  assert.deepEqual(state.files['101:/etc/ssl/private/key.pem'], { uid: 33, gid: 111, mode: 0o640 });
  const push = state.log.find((l) => l[1] === 'push')!;
  assert.deepEqual(push.slice(0, 3), ['pct', 'push', '101']);
  assert.deepEqual(push.slice(4), [
    '/etc/ssl/private/key.pem',
    '--user',
    'www-data',
    '--group',
    '111',
    '--perms',
    '0640',
  ]);
  assert.ok(push[3]!.startsWith(`${env.nodeTmp}/phoenix.`), `staged in the node's temp dir: ${push[3]}`);

  assert.deepEqual(await pct.pull(101, '/etc/ssl/private/key.pem'), key);
  assert.deepEqual(await readdir(env.nodeTmp), [], 'staged temp files are removed');

  await assert.rejects(pct.push(102, '/x', bytes('x')), (e: unknown) => {
    assert.ok(e instanceof CliCommandFailed && !(e instanceof CliConfigLocked));
    assert.equal(e.stderr, 'can only push files to a running CT');
    return true;
  });
  await assert.rejects(
    pct.push(101, '/no/such/dir/f', bytes('x')),
    /failed to create file: \/no\/such\/dir\/f/,
  );
  await assert.rejects(pct.push(101, '/etc/../x', bytes('x')), /invalid guest path/);
  assert.deepEqual(await readdir(env.nodeTmp), [], 'staged temp files are removed after a failure too');
}

test('pct push records user, group and perms; pull round-trips; staging leaves nothing behind (local)', async (t) => {
  const env = await standIn(t);
  await checkPushPull(env.local, env);
});

async function checkQm(runner: CommandRunner, env: Env): Promise<void> {
  const qm = new Qm(runner);
  const ok = await qm.guestExec(1001, ['echo', 'it works', "it's"]);
  assert.deepEqual(ok, { exitCode: 0, stdout: "it works it's\n", stderr: '' });
  const failed = await qm.guestExec(1001, ['cat', '/etc/missing']);
  assert.equal(failed.exitCode, 1, 'a non-zero exitcode in the JSON is surfaced');
  assert.match(failed.stderr, /No such file or directory/);
  await assert.rejects(qm.guestExecChecked(1001, ['test', '-e', '/etc/missing']), (e: unknown) => {
    assert.ok(e instanceof CliCommandFailed);
    assert.equal(e.exitCode, 1);
    return true;
  });
  assert.equal(
    (await qm.guestExec(1001, ['cat'], { input: bytes('via agent stdin') })).stdout,
    'via agent stdin',
  );
  await assert.rejects(qm.guestExec(1001, ['nosuch']), /Agent error: Failed to execute child process/);
  await assert.rejects(qm.guestExec(1002, ['true']), /No QEMU guest agent configured/);

  const s = await env.emu.readState();
  s.faults = { execOutput: { '1001': 'garbage' } };
  await env.emu.writeState(s);
  await assert.rejects(qm.guestExec(1001, ['true']), (e: unknown) => {
    assert.ok(e instanceof CliOutputError, `a parse failure is an error: ${String(e)}`);
    assert.match(e.message, /not JSON/);
    return true;
  });
  s.faults = { execOutput: { '1001': 'timeout' } };
  await env.emu.writeState(s);
  await assert.rejects(
    qm.guestExec(1001, ['true']),
    DeadlineExceeded,
    '`exited` missing: qm stopped waiting',
  );
}

test('qm guest exec: the exitcode in the JSON is checked, parse failures and timeouts surface (local)', async (t) => {
  const env = await standIn(t);
  await checkQm(env.local, env);
});

async function checkLocks(runner: CommandRunner, env: Env): Promise<void> {
  const s = await env.emu.readState();
  s.faults = { lockTimeout: [101, 1001] };
  await env.emu.writeState(s);
  const pct = new Pct(runner);
  await assert.rejects(pct.push(101, '/etc/x', bytes('x')), (e: unknown) => {
    assert.ok(e instanceof CliConfigLocked);
    assert.equal(e.retryable, true);
    assert.equal(e.code, 'pve-config-locked');
    assert.equal(e.stderr, "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout");
    return true;
  });
  await assert.rejects(
    new Pvesh(runner).set('/nodes/pve/qemu/1001/config', { memory: 8192 }),
    (e: unknown) => {
      assert.ok(e instanceof CliConfigLocked && e.retryable);
      assert.match(e.message, /lock-1001\.conf' - got timeout/);
      return true;
    },
  );
  await assert.rejects(pct.stop(102), (e: unknown) => e instanceof CliCommandFailed && !e.retryable);
  assert.deepEqual(await readdir(env.nodeTmp), []);
}

test('a config lock timeout is a retryable CliConfigLocked, other failures are not retryable (local)', async (t) => {
  const env = await standIn(t);
  await checkLocks(env.local, env);
});

async function checkAgentFile(runner: CommandRunner, env: Env): Promise<void> {
  const pvesh = new Pvesh(runner);
  const qm = new Qm(runner);
  const content = new Uint8Array(randomBytes(200 * 1024 + 123));
  content.fill(0, 1000, 1100);
  const calls = await agentWriteFile(pvesh, qm, 1001, '/opt/app/blob.bin', content, { node: 'pve' });
  assert.equal(calls, Math.ceil(content.byteLength / AGENT_WRITE_CHUNK_BYTES));
  assert.equal(calls, 5);
  assert.deepEqual(new Uint8Array(await readFile(join(env.emu.root(1001), 'opt/app/blob.bin'))), content);
  assert.deepEqual(await agentReadFile(pvesh, 1001, '/opt/app/blob.bin', { node: 'pve' }), content);
  assert.deepEqual(
    await readdir(join(env.emu.root(1001), 'opt/app')),
    ['blob.bin'],
    'the part file is removed',
  );
  const writes = (await env.emu.readState()).log.filter(
    (l) => l[0] === 'pvesh' && l[2]?.endsWith('/file-write'),
  );
  assert.equal(writes.length, 5);
  for (const w of writes) {
    const c = w[w.indexOf('--content') + 1]!;
    assert.ok(c.length <= 61440, `each call carries at most 60 KiB of content (${c.length})`);
  }
  // A small file is one call; the API's limit is enforced by the stand-in as by Proxmox.
  assert.equal(await agentWriteFile(pvesh, qm, 1001, '/opt/app/small', bytes('hi'), { node: 'pve' }), 1);
  await assert.rejects(
    pvesh.create('/nodes/pve/qemu/1001/agent/file-write', {
      file: '/x',
      content: 'A'.repeat(61444),
      encode: false,
    }),
    /content: value may only be 61440 characters long/,
  );
}

test('agent file-write in 45 KiB chunks joined in the guest: a 200 KiB round trip (local)', async (t) => {
  const env = await standIn(t);
  await checkAgentFile(env.local, env);
});

test('pvesh: JSON results parsed, null results undefined, unknown paths are errors', async (t) => {
  const { local } = await standIn(t);
  const pvesh = new Pvesh(local);
  const cfg = (await pvesh.get('/nodes/pve/lxc/101/config')) as Record<string, unknown>;
  assert.equal(cfg.hostname, 'gw');
  assert.match(String(cfg.digest), /^[0-9a-f]{40}$/);
  assert.equal(
    await pvesh.set('/nodes/pve/lxc/101/config', { memory: 1024, digest: String(cfg.digest) }),
    undefined,
  );
  assert.equal(((await pvesh.get('/nodes/pve/lxc/101/config')) as Record<string, unknown>).memory, '1024');
  await assert.rejects(
    pvesh.set('/nodes/pve/lxc/101/config', { memory: 2048, digest: String(cfg.digest) }),
    /detected modified configuration/,
  );
  await assert.rejects(pvesh.get('/nodes/pve/nosuch'), /No 'get' handler defined for 'nodes\/pve\/nosuch'/);
  await assert.rejects(pvesh.get('/nodes/pve/../x'), /invalid API path/);
  assert.throws(
    () => new SshRunner({ destination: 'h', options: ['StrictHostKeyChecking=no'] }),
    /must stay on/,
  );
  assert.throws(() => new SshRunner({ destination: '-oProxyCommand=x' }), /invalid ssh destination/);
});

// ---------------------------------------------------------------------------------------------- ssh

test('local and SSH runners give identical results for the same commands', { skip: SKIP_SSH }, async (t) => {
  const env = await standIn(t);
  const sshd = await startSshd(t, env);
  const ssh = sshd.runner();
  const weird = ['a b', "it's", '$HOME', '`id`', 'x\ny', '\\', '*', ''];
  const commands: string[][] = [
    ['pct', 'status', '101'],
    ['pct', 'config', '101'],
    ['pct', 'exec', '101', '--', 'cat', '/etc/hostname'],
    ['pct', 'exec', '101', '--', 'echo', ...weird],
    ['pct', 'exec', '101', '--', 'false'],
    ['pct', 'exec', '101', '--', 'nosuch'],
    ['pct', 'status', '999'],
    ['qm', 'guest', 'exec', '1001', '--', 'echo', ...weird],
    ['pvesh', 'get', '/nodes/pve/qemu/1001/status/current', '--output-format', 'json'],
  ];
  for (const argv of commands) {
    const a = await env.local.run(argv);
    const b = await ssh.run(argv);
    assert.deepEqual(
      { exitCode: b.exitCode, stdout: b.stdout, stderr: b.stderr },
      { exitCode: a.exitCode, stdout: a.stdout, stderr: a.stderr },
      argv.join(' '),
    );
  }
  assert.equal(
    (await ssh.run(['pct', 'exec', '101', '--', 'echo', ...weird])).stdout,
    `${weird.join(' ')}\n`,
  );
  assert.deepEqual(
    (await ssh.run(['pct', 'exec', '101', '--', 'cat'], { input: new Uint8Array([0, 1, 255, 10]) }))
      .stdoutBytes,
    new Uint8Array([0, 1, 255, 10]),
  );
});

test('SSH: one master connection is reused, and close() ends it', { skip: SKIP_SSH }, async (t) => {
  const env = await standIn(t);
  const sshd = await startSshd(t, env);
  const ssh = sshd.runner();
  assert.equal(await ssh.masterPid(), undefined);
  let t0 = performance.now();
  await ssh.run(['true']);
  const first = performance.now() - t0;
  const master = await ssh.masterPid();
  assert.ok(master !== undefined, 'the first command left a master running');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    t0 = performance.now();
    assert.equal((await ssh.run(['pct', 'status', '101'])).stdout, 'status: running\n');
    times.push(performance.now() - t0);
  }
  assert.equal(await ssh.masterPid(), master, 'the same master served every command');
  const accepted = sshd.log().match(/Accepted publickey/g) ?? [];
  assert.equal(accepted.length, 1, `sshd authenticated exactly one connection:\n${sshd.log()}`);
  t.diagnostic(
    `first command ${first.toFixed(0)} ms (connect), then ${times.map((x) => x.toFixed(0)).join(', ')} ms`,
  );
  await ssh.close();
  assert.equal(await ssh.masterPid(), undefined);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    try {
      process.kill(master, 0);
      await sleep(20);
    } catch {
      gone = true;
    }
  }
  assert.ok(gone, `master ${master} exited after close()`);
  await assert.rejects(ssh.run(['true']), /runner is closed/);
});

test('SSH: host key checking stays on; connection failures are SshErrors', { skip: SKIP_SSH }, async (t) => {
  const env = await standIn(t);
  const sshd = await startSshd(t, env);
  const otherKey = join(sshd.dir, 'other_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
  const wrongHosts = join(sshd.dir, 'wrong_known_hosts');
  await writeFile(
    wrongHosts,
    `[127.0.0.1]:${sshd.port} ${(await readFile(`${otherKey}.pub`, 'utf8')).trim()}\n`,
  );
  await assert.rejects(
    sshd.runner({ options: [`UserKnownHostsFile=${wrongHosts}`] }).run(['true']),
    (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.match(e.message, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
      return true;
    },
  );
  const emptyHosts = join(sshd.dir, 'empty_known_hosts');
  await writeFile(emptyHosts, '');
  await assert.rejects(
    sshd.runner({ options: [`UserKnownHostsFile=${emptyHosts}`] }).run(['true']),
    /Host key verification failed/,
  );
  await assert.rejects(sshd.runner({ port: await freePort() }).run(['true']), (e: unknown) => {
    assert.ok(e instanceof SshError);
    assert.match(e.message, /Connection refused/);
    assert.equal(e.retryable, true);
    return true;
  });
  // A remote command's own exit 255 (pct's die) is a result, not an ssh failure.
  const r = await sshd.runner().run(['pct', 'status', '999']);
  assert.equal(r.exitCode, 255);
});

test(
  'over SSH: push/pull with attrs, qm exec checks, lock timeouts, chunked agent write',
  { skip: SKIP_SSH },
  async (t) => {
    const env = await standIn(t);
    const sshd = await startSshd(t, env);
    const ssh = sshd.runner();
    await checkPushPull(ssh, env);
    await checkAgentFile(ssh, env);
    await checkQm(ssh, env);
    await checkLocks(ssh, env);
  },
);

test('runner: a timeout kills the command and rejects with DeadlineExceeded; abort rejects too', async () => {
  const local = new LocalRunner();
  const t0 = Date.now();
  await assert.rejects(local.run(['sleep', '5'], { timeoutMs: 200, what: 'sleep' }), DeadlineExceeded);
  assert.ok(Date.now() - t0 < 3000, 'it did not wait for the command');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(local.run(['sleep', '5'], { signal: ac.signal }), /aborted/);
  await assert.rejects(local.run(['/nonexistent/pct']), /cannot run \/nonexistent\/pct/);
});
