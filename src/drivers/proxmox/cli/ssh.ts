import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverError } from '../../errors.js';
import { remoteCommand } from './quote.js';
import { spawnCollect } from './runner.js';
import type { CommandRunner, RunOptions, RunResult } from './runner.js';

/**
 * Runs argvs on a Proxmox node through OpenSSH's `ssh` client, reusing one connection.
 *
 * - The user's SSH configuration applies (`~/.ssh/config`, or `configFile` as `-F`): the destination may be a
 *   Host alias, and User, Port, IdentityFile, ProxyJump, ... come from there. Phoenix sets on the command line
 *   only what it needs (command-line `-o` options take precedence over the config file, key by key):
 *   `BatchMode=yes` (never prompt), `ControlMaster=auto`, `ControlPath=<private dir>/%C`, `ControlPersist`,
 *   and `-T` (no terminal: output stays byte-exact).
 * - Host key checking stays on. `StrictHostKeyChecking=no|off` is refused; a known_hosts file can be given
 *   with `options: ['UserKnownHostsFile=/path']`.
 * - The remote command is the argv quoted by `remoteCommand` (see quote.ts): the only shell string in Phoenix.
 * - The first command starts the master connection (ControlMaster=auto); later ones are multiplexed over it
 *   through a socket in a directory only this process's user can enter (mode 0700). `close()` ends the master
 *   (`ssh -O exit`) and removes the directory. An idle master also ends by itself after ControlPersist.
 * - ssh exits 255 for its own failures, and so does a remote command that exits 255 (Proxmox's CLI tools do
 *   on `die`). A 255 whose stderr is ssh's own diagnostic (connection refused, host key verification failed,
 *   permission denied, mux errors) becomes an `SshError`; anything else is the command's result.
 * - A timeout or abort kills the local ssh client; the remote command loses its channel (and normally gets
 *   SIGHUP/SIGPIPE) but is not guaranteed to stop at once.
 */

export interface SshRunnerOptions {
  /** As in ssh(1): a Host alias of the user's config, `host`, or `user@host`. */
  readonly destination: string;
  readonly port?: number;
  readonly identityFile?: string;
  /** Passed as `-F`: replaces `~/.ssh/config` (tests; normally unset). */
  readonly configFile?: string;
  /** Extra `-o` options, "Key=Value" (e.g. "UserKnownHostsFile=/etc/phoenix/known_hosts"). */
  readonly options?: readonly string[];
  /** Seconds an idle master stays up; default 60. */
  readonly controlPersistSeconds?: number;
  /** A private (0700) directory for the control socket; by default one is created under the temp dir. */
  readonly controlDir?: string;
  /** The ssh client; default "ssh" from PATH. */
  readonly sshPath?: string;
  /** Environment of the ssh client; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

/** ssh itself failed (not the remote command): no connection, refused host key or authentication, mux error. */
export class SshError extends DriverError {
  constructor(
    readonly destination: string,
    readonly stderr: string,
    retryable: boolean,
  ) {
    super(`ssh to ${destination} failed: ${stderr}`, retryable, 'ssh');
    this.name = 'SshError';
  }
}

const SSH_FAILURE =
  /^ssh: |^Host key verification failed|Permission denied \(|^Connection (closed|reset|timed out) |kex_exchange_identification|^mux_client_|^Control socket connect|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known for/m;
const SSH_TRANSIENT =
  /Connection refused|Connection timed out|Connection reset|Connection closed|No route to host/;

function checkOptions(options: readonly string[]): void {
  for (const o of options) {
    if (!/^[A-Za-z]+[= ]/.test(o)) throw new DriverError(`ssh option must be "Key=Value": ${o}`);
    if (/^StrictHostKeyChecking[= ]\s*(no|off)\s*$/i.test(o)) {
      throw new DriverError('ssh host key checking must stay on (StrictHostKeyChecking=no is refused)');
    }
    if (/^BatchMode[= ]\s*no\s*$/i.test(o)) throw new DriverError('ssh must run in batch mode');
  }
}

export class SshRunner implements CommandRunner {
  readonly describe: string;
  private controlDir: string | undefined;
  /** Made once: concurrent first commands must share one directory (and so one master). */
  private controlDirMade?: Promise<string>;
  private readonly ownsControlDir: boolean;
  private closed = false;

  constructor(private readonly o: SshRunnerOptions) {
    if (!o.destination || o.destination.startsWith('-') || /\s/.test(o.destination)) {
      throw new DriverError(`invalid ssh destination: ${JSON.stringify(o.destination)}`);
    }
    if (o.port !== undefined && !(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) {
      throw new DriverError(`invalid ssh port: ${o.port}`);
    }
    checkOptions(o.options ?? []);
    this.controlDir = o.controlDir;
    this.ownsControlDir = o.controlDir === undefined;
    this.describe = `ssh ${o.destination}`;
  }

  private async commonArgs(): Promise<string[]> {
    if (this.closed) throw new DriverError(`${this.describe}: runner is closed`);
    this.controlDirMade ??= mkdtemp(join(tmpdir(), 'phoenix-ssh-')); // created 0700
    this.controlDir ??= await this.controlDirMade;
    const o = this.o;
    return [
      '-T',
      '-o',
      'BatchMode=yes',
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${this.controlDir}/%C`,
      '-o',
      `ControlPersist=${o.controlPersistSeconds ?? 60}`,
      ...(o.configFile ? ['-F', o.configFile] : []),
      ...(o.port !== undefined ? ['-p', String(o.port)] : []),
      ...(o.identityFile ? ['-i', o.identityFile] : []),
      ...(o.options ?? []).flatMap((opt) => ['-o', opt]),
    ];
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const command = remoteCommand(argv);
    const args = [...(await this.commonArgs()), '--', this.o.destination, command];
    const r = await spawnCollect(this.o.sshPath ?? 'ssh', args, {
      ...opts,
      env: this.o.env,
      what: opts.what ?? `${argv[0]} on ${this.o.destination}`,
    });
    if (r.exitCode === 255 && SSH_FAILURE.test(r.stderr)) {
      throw new SshError(this.o.destination, r.stderr.trim(), SSH_TRANSIENT.test(r.stderr));
    }
    return r;
  }

  private async control(op: 'check' | 'exit'): Promise<RunResult> {
    const args = [...(await this.commonArgs()), '-O', op, '--', this.o.destination];
    return spawnCollect(this.o.sshPath ?? 'ssh', args, {
      env: this.o.env,
      what: `ssh -O ${op}`,
      timeoutMs: 10_000,
    });
  }

  /** The pid of the running master connection, or undefined when there is none. */
  async masterPid(): Promise<number | undefined> {
    if (this.closed || this.controlDir === undefined) return undefined;
    const r = await this.control('check');
    const m = /Master running \(pid=(\d+)\)/.exec(r.stderr);
    return r.exitCode === 0 && m ? Number(m[1]) : undefined;
  }

  /** Ends the master connection (if any) and removes the control directory this runner created. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.controlDir === undefined) {
      this.closed = true;
      return;
    }
    try {
      // A socket in the private control directory means a master may be listening on it.
      const sockets = await readdir(this.controlDir).catch(() => []);
      if (sockets.length > 0) {
        const r = await this.control('exit');
        if (r.exitCode !== 0 && (await this.masterPid()) !== undefined) {
          throw new SshError(this.o.destination, r.stderr.trim(), false);
        }
      }
    } finally {
      this.closed = true;
      // The private directory goes whatever the master did: nothing of this runner stays behind.
      if (this.ownsControlDir) await rm(this.controlDir, { recursive: true, force: true });
    }
  }
}
