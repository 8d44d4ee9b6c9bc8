import { DeadlineExceeded, DriverError } from '../../errors.js';
import { CliCommandFailed, CliOutputError, check, parseJson } from './errors.js';
import { vmidArg } from './args.js';
import { parseConfigLines } from './pct.js';
import type { CommandRunner, RunResult } from './runner.js';

/**
 * `qm` (QEMU/KVM virtual machine manager), as documented in qm(1) and implemented in qemu-server's
 * src/PVE/CLI/qm.pm.
 *
 * `qm guest exec ID [--timeout S] [--pass-stdin 1] -- argv...` runs argv through the QEMU guest agent and
 * prints the agent's exec-status as a JSON object: `{"exitcode": N, "exited": 1, "out-data": "...",
 * "err-data": "..."}` (out-data/err-data already base64-decoded by qm, present only when not empty; `signal`
 * instead of `exitcode` when the process was killed; `out-truncated`/`err-truncated` when the agent cut the
 * output). qm itself exits 0 whatever the command's status was, so the JSON is the only place the result is:
 * it is parsed and checked, and anything unexpected is an error:
 * - output that is not a JSON object → CliOutputError;
 * - `exited` not set (qm's wait timed out: it then prints `{"pid": N}` and warns) → DeadlineExceeded;
 * - neither `exitcode` nor `signal` → CliOutputError; truncated output → CliOutputError.
 */

export interface GuestExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface GuestExecOptions {
  /** Sent with `--pass-stdin 1` (qm limits it to 1 MiB). */
  readonly input?: Uint8Array;
  /** qm's synchronous wait, whole seconds (qm's default 30; 0 = no limit). */
  readonly timeoutSeconds?: number;
  readonly signal?: AbortSignal;
}

export interface GuestExecStatus {
  readonly exited: boolean;
  /** Set when exited. */
  readonly result?: GuestExecResult;
}

const MAX_STDIN = 1024 * 1024;

export class Qm {
  constructor(readonly runner: CommandRunner) {}

  private async qm(what: string, args: readonly string[]): Promise<RunResult> {
    return check(what, await this.runner.run(['qm', ...args], { what }));
  }

  /** Runs argv in the VM through the guest agent; returns the command's exit code, stdout and stderr. */
  async guestExec(
    vmid: number,
    argv: readonly string[],
    opts: GuestExecOptions = {},
  ): Promise<GuestExecResult> {
    const id = vmidArg(vmid);
    if (argv.length === 0) throw new DriverError('qm guest exec: empty argv');
    const what = `qm guest exec ${id} ${argv[0]}`;
    const args = ['guest', 'exec', id];
    if (opts.timeoutSeconds !== undefined) {
      if (!Number.isInteger(opts.timeoutSeconds) || opts.timeoutSeconds < 0) {
        throw new DriverError(`${what}: invalid timeout ${opts.timeoutSeconds}`);
      }
      args.push('--timeout', String(opts.timeoutSeconds));
    }
    if (opts.input !== undefined) {
      if (opts.input.byteLength > MAX_STDIN) throw new DriverError(`${what}: input over 1 MiB (qm's limit)`);
      args.push('--pass-stdin', '1');
    }
    const r = check(
      what,
      await this.runner.run(['qm', ...args, '--', ...argv], {
        what,
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        // qm's own wait plus some slack: a hung qm does not hang Phoenix.
        ...(opts.timeoutSeconds ? { timeoutMs: opts.timeoutSeconds * 1000 + 30_000 } : {}),
      }),
    );
    const status = parseExecStatus(what, r.stdout);
    if (!status.exited)
      throw new DeadlineExceeded(
        `${what} (qm stopped waiting; the command may still run)`,
        (opts.timeoutSeconds ?? 30) * 1000,
      );
    return status.result!;
  }

  /** Like guestExec, but a non-zero exit code is a CliCommandFailed carrying the command's stderr. */
  async guestExecChecked(
    vmid: number,
    argv: readonly string[],
    opts: GuestExecOptions = {},
  ): Promise<GuestExecResult> {
    const r = await this.guestExec(vmid, argv, opts);
    if (r.exitCode !== 0)
      throw new CliCommandFailed(`qm guest exec ${vmid} ${argv[0]}`, r.exitCode, r.stderr.trim());
    return r;
  }

  /** `qm guest exec-status ID PID`: the agent's record of an exec started asynchronously. */
  async guestExecStatus(vmid: number, pid: number): Promise<GuestExecStatus> {
    const id = vmidArg(vmid);
    if (!Number.isInteger(pid) || pid < 0) throw new DriverError(`invalid guest pid: ${pid}`);
    const what = `qm guest exec-status ${id} ${pid}`;
    return parseExecStatus(what, (await this.qm(what, ['guest', 'exec-status', id, String(pid)])).stdout);
  }

  /** `qm status ID` → "status: running". */
  async status(vmid: number): Promise<string> {
    const id = vmidArg(vmid);
    const r = await this.qm(`qm status ${id}`, ['status', id]);
    const m = /^status: (\S+)$/m.exec(r.stdout);
    if (!m) throw new CliOutputError(`qm status ${id}`, 'no "status: ..." line');
    return m[1]!;
  }

  /** `qm config ID [--current 1]`: "key: value" lines. */
  async config(vmid: number, opts: { current?: boolean } = {}): Promise<Record<string, string>> {
    const id = vmidArg(vmid);
    const args = ['config', id, ...(opts.current ? ['--current', '1'] : [])];
    return parseConfigLines(`qm config ${id}`, (await this.qm(`qm config ${id}`, args)).stdout);
  }

  async start(vmid: number): Promise<void> {
    const id = vmidArg(vmid);
    await this.qm(`qm start ${id}`, ['start', id]);
  }

  async stop(vmid: number): Promise<void> {
    const id = vmidArg(vmid);
    await this.qm(`qm stop ${id}`, ['stop', id]);
  }

  async shutdown(vmid: number, opts: { timeoutSeconds?: number; forceStop?: boolean } = {}): Promise<void> {
    const id = vmidArg(vmid);
    const args = ['shutdown', id];
    if (opts.timeoutSeconds !== undefined) args.push('--timeout', String(Math.trunc(opts.timeoutSeconds)));
    if (opts.forceStop) args.push('--forceStop', '1');
    await this.qm(`qm shutdown ${id}`, args);
  }

  async destroy(vmid: number, opts: { purge?: boolean } = {}): Promise<void> {
    const id = vmidArg(vmid);
    await this.qm(`qm destroy ${id}`, ['destroy', id, ...(opts.purge ? ['--purge', '1'] : [])]);
  }
}

/** Parses and checks the JSON object `qm guest exec` / `exec-status` print. */
export function parseExecStatus(what: string, stdout: string): GuestExecStatus {
  const v = parseJson(what, stdout);
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new CliOutputError(what, 'not a JSON object');
  const o = v as Record<string, unknown>;
  const flag = (x: unknown) => x === true || x === 1;
  if (!flag(o.exited)) {
    if (o.exited !== undefined && o.exited !== 0 && o.exited !== false) {
      throw new CliOutputError(what, `"exited" is ${JSON.stringify(o.exited)}`);
    }
    return { exited: false };
  }
  if (flag(o['out-truncated']) || flag(o['err-truncated'])) {
    throw new CliOutputError(what, 'the guest agent truncated the output');
  }
  let exitCode: number;
  if (typeof o.exitcode === 'number' && Number.isInteger(o.exitcode)) exitCode = o.exitcode;
  else if (typeof o.signal === 'number' && Number.isInteger(o.signal)) exitCode = 128 + o.signal;
  else throw new CliOutputError(what, 'exited without an integer "exitcode" or "signal"');
  const text = (k: string) => {
    const x = o[k];
    if (x === undefined) return '';
    if (typeof x !== 'string') throw new CliOutputError(what, `"${k}" is not a string`);
    return x;
  };
  return { exited: true, result: { exitCode, stdout: text('out-data'), stderr: text('err-data') } };
}
