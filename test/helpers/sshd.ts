import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { SshRunner } from '../../src/drivers/proxmox/cli/index.js';

/**
 * A real OpenSSH server (Debian's openssh-server) on loopback for the tests of the SSH transport, shared by
 * the pct/qm/pvesh tests (proxmox-cli, proxmox-pvesh, ...). Tests that need it use `{ skip: SKIP_SSH }`.
 */

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';
export const SKIP_SSH = existsSync(SSHD) ? undefined : 'openssh-server is not installed (/usr/sbin/sshd)';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

async function waitListening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const up = await new Promise<boolean>((ok) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        ok(true);
      });
      s.on('error', () => ok(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${ms} ms`);
    await sleep(20);
  }
}

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  readonly clientKey: string;
  readonly knownHosts: string;
  /** An empty ssh_config: the test does not depend on the invoking user's ~/.ssh/config. */
  readonly sshConfig: string;
  log(): string;
  runner(extra?: Partial<ConstructorParameters<typeof SshRunner>[0]>): SshRunner;
}

/** Where the server's cleanup goes: a TestContext, or a suite's own list run in `after()`. */
export interface CleanupScope {
  after(fn: () => Promise<void>): void;
}

export interface SshdOptions {
  /**
   * The environment of remote commands (sshd's SetEnv), e.g. PATH with a stand-in's bin dir first. Values
   * must not contain whitespace or quotes (SetEnv's syntax); nothing secret belongs here.
   */
  readonly setEnv: Readonly<Record<string, string>>;
}

/**
 * Debian's sshd on 127.0.0.1 and a free port, with its own host key, a generated client key as the only
 * authorized key, and SetEnv for the remote commands. Stopped by its pid afterwards (a `t.after` hook).
 */
export async function startSshd(t: CleanupScope, options: SshdOptions): Promise<Sshd> {
  for (const [k, v] of Object.entries(options.setEnv)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || /[\s"'\\]/.test(v)) throw new Error(`unusable SetEnv ${k}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'phoenix-sshd-'));
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'client_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'phoenix-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'phoenix-test-client', '-f', clientKey]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`), { mode: 0o600 });
  const port = await freePort();
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${(await readFile(`${hostKey}.pub`, 'utf8')).trim()}\n`);
  const sshConfig = join(dir, 'ssh_config');
  await writeFile(sshConfig, '');
  const setEnv = Object.entries(options.setEnv).map(([k, v]) => `${k}=${v}`);
  const config = [
    'ListenAddress 127.0.0.1',
    `Port ${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'PrintMotd no',
    'LogLevel INFO',
    ...(setEnv.length > 0 ? [`SetEnv ${setEnv.join(' ')}`] : []),
  ];
  await writeFile(join(dir, 'sshd_config'), `${config.join('\n')}\n`);
  // Debian's sshd refuses to start without its privilege separation directory (normally made by systemd).
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) await mkdir('/run/sshd', { mode: 0o755 });
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const runners: SshRunner[] = [];
  // One hook, in this order: the runners end their masters first (they need the ssh config in `dir`; sshd's
  // per-connection processes, which share our stderr pipe, end with them), then sshd is stopped by its pid,
  // then the directory goes.
  t.after(async () => {
    try {
      await Promise.allSettled(runners.map((r) => r.close()));
    } finally {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
  await Promise.race([
    waitListening(port, 5000),
    exited.then(() => {
      throw new Error(`sshd exited: ${log}`);
    }),
  ]);
  return {
    port,
    dir,
    clientKey,
    knownHosts,
    sshConfig,
    log: () => log,
    runner: (extra = {}) => {
      const r = new SshRunner({
        destination: `${userInfo().username}@127.0.0.1`,
        port,
        identityFile: clientKey,
        configFile: sshConfig,
        options: [`UserKnownHostsFile=${knownHosts}`],
        ...extra,
      });
      runners.push(r);
      return r;
    },
  };
}
