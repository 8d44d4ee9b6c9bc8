import { CliOutputError, check, failure } from './errors.js';
import { absPathArg, ownerArg, permsArg, vmidArg } from './args.js';
import { readHostFile, withHostTempFile } from './staging.js';
import type { CommandRunner, RunResult } from './runner.js';

/**
 * `pct` (Proxmox container toolkit), as documented in pct(1) and implemented in pve-container's
 * src/PVE/CLI/pct.pm. Every method is one argv; a non-zero exit is a typed error carrying pct's stderr
 * (`CliConfigLocked`, retryable, for "can't lock file ... got timeout").
 */

export interface PctExecOptions {
  readonly input?: Uint8Array;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface PushAttrs {
  /** User name or id as seen inside the container (pct resolves names in the container). */
  readonly user?: string | number;
  readonly group?: string | number;
  /** Mode, e.g. 0o640; passed as octal "0640". */
  readonly perms?: number;
}

export interface PctOptions {
  /**
   * `pct exec` keeps the caller's environment by default until PVE 9, which would leak Phoenix's environment
   * into the container. With `clearEnv` (the default) Phoenix passes `--keep-env 0` (pct ≥ PVE 8.1); set it to
   * false only for older hosts that do not know the option.
   */
  readonly clearEnv?: boolean;
}

/**
 * pct's own failures of `pct exec` (it dies before starting the command, exit 255): these are errors, while
 * any other exit status is the command's own and is returned.
 */
const PCT_EXEC_OWN =
  /^(container '\d+' not running!|Configuration file '[^']*' does not exist|missing command)$/m;

export type PctStatus = 'running' | 'stopped' | string;

export class Pct {
  constructor(
    readonly runner: CommandRunner,
    private readonly options: PctOptions = {},
  ) {}

  private async pct(what: string, args: readonly string[], input?: Uint8Array): Promise<RunResult> {
    return check(what, await this.runner.run(['pct', ...args], { what, ...(input ? { input } : {}) }));
  }

  /**
   * `pct exec ID [--keep-env 0] -- argv...`: runs argv inside the container. The command's exit status is
   * returned, not thrown (a caller decides what it means); pct's own failures (container stopped or missing)
   * are thrown.
   */
  async exec(vmid: number, argv: readonly string[], opts: PctExecOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new CliOutputError(`pct exec ${vmid}`, 'empty argv');
    const what = `pct exec ${vmidArg(vmid)} ${argv[0]}`;
    const env = this.options.clearEnv === false ? [] : ['--keep-env', '0'];
    const r = await this.runner.run(['pct', 'exec', String(vmid), ...env, '--', ...argv], { ...opts, what });
    if (r.exitCode === 255 && PCT_EXEC_OWN.test(r.stderr)) throw failure(what, r);
    return r;
  }

  /** Like `exec`, but a non-zero exit status of the command is a CliCommandFailed with its stderr. */
  async execChecked(vmid: number, argv: readonly string[], opts: PctExecOptions = {}): Promise<RunResult> {
    return check(`pct exec ${vmid} ${argv[0] ?? ''}`, await this.exec(vmid, argv, opts));
  }

  /**
   * `pct push ID HOSTFILE PATH --user U --group G --perms MODE`: writes `content` to PATH inside the running
   * container, owned and moded as given (as seen inside the container: pct enters its user namespace). The
   * content is staged in a 0600 temp file on the node first and removed afterwards (staging.ts).
   * pct push writes in place (O_TRUNC); atomic replacement is the caller's job (push a temp name, then mv).
   */
  async push(vmid: number, guestPath: string, content: Uint8Array, attrs: PushAttrs = {}): Promise<void> {
    const id = vmidArg(vmid);
    const dest = absPathArg(guestPath, 'guest path');
    const opts = [
      ...(attrs.user !== undefined ? ['--user', ownerArg(attrs.user, 'user')] : []),
      ...(attrs.group !== undefined ? ['--group', ownerArg(attrs.group, 'group')] : []),
      ...(attrs.perms !== undefined ? ['--perms', permsArg(attrs.perms)] : []),
    ];
    await withHostTempFile(this.runner, content, (host) =>
      this.pct(`pct push ${id} ${dest}`, ['push', id, host, dest, ...opts]),
    );
  }

  /** `pct pull ID PATH HOSTFILE`: the content of a file inside the running container. */
  async pull(vmid: number, guestPath: string): Promise<Uint8Array> {
    const id = vmidArg(vmid);
    const src = absPathArg(guestPath, 'guest path');
    return withHostTempFile(this.runner, undefined, async (host) => {
      await this.pct(`pct pull ${id} ${src}`, ['pull', id, src, host]);
      return readHostFile(this.runner, host);
    });
  }

  /** `pct status ID` → "status: running". */
  async status(vmid: number): Promise<PctStatus> {
    const id = vmidArg(vmid);
    const r = await this.pct(`pct status ${id}`, ['status', id]);
    const m = /^status: (\S+)$/m.exec(r.stdout);
    if (!m) throw new CliOutputError(`pct status ${id}`, 'no "status: ..." line');
    return m[1]!;
  }

  /**
   * `pct config ID [--current 1] [--snapshot NAME]`: "key: value" lines (pct prints the keys sorted, without
   * the digest). Values stay strings; mapping them is the config module's job.
   */
  async config(
    vmid: number,
    opts: { current?: boolean; snapshot?: string } = {},
  ): Promise<Record<string, string>> {
    const id = vmidArg(vmid);
    const args = ['config', id];
    if (opts.current) args.push('--current', '1');
    if (opts.snapshot !== undefined) args.push('--snapshot', opts.snapshot);
    return parseConfigLines(`pct config ${id}`, (await this.pct(`pct config ${id}`, args)).stdout);
  }

  async start(vmid: number): Promise<void> {
    const id = vmidArg(vmid);
    await this.pct(`pct start ${id}`, ['start', id]);
  }

  /** Immediate stop (like pulling the plug). */
  async stop(vmid: number): Promise<void> {
    const id = vmidArg(vmid);
    await this.pct(`pct stop ${id}`, ['stop', id]);
  }

  /** Clean shutdown; `forceStop` stops it after `timeoutSeconds` (pct's default 60). */
  async shutdown(vmid: number, opts: { timeoutSeconds?: number; forceStop?: boolean } = {}): Promise<void> {
    const id = vmidArg(vmid);
    const args = ['shutdown', id];
    if (opts.timeoutSeconds !== undefined) args.push('--timeout', String(Math.trunc(opts.timeoutSeconds)));
    if (opts.forceStop) args.push('--forceStop', '1');
    await this.pct(`pct shutdown ${id}`, args);
  }

  async destroy(vmid: number, opts: { purge?: boolean; force?: boolean } = {}): Promise<void> {
    const id = vmidArg(vmid);
    const args = ['destroy', id];
    if (opts.purge) args.push('--purge', '1');
    if (opts.force) args.push('--force', '1');
    await this.pct(`pct destroy ${id}`, args);
  }
}

/** "key: value" lines as `pct config` / `qm config` print them. */
export function parseConfigLines(what: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([A-Za-z0-9_.-]+): ?(.*)$/.exec(line);
    if (!m)
      throw new CliOutputError(what, `not a "key: value" line (line ${JSON.stringify(line.slice(0, 40))})`);
    out[m[1]!] = m[2]!;
  }
  return out;
}
