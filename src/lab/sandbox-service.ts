import { DriverError } from '../drivers/errors.js';
import type { ExecResult } from '../drivers/hypervisor/types.js';
import { assertLoopback } from './address.js';
import { execArgv, guestEnv, launcherArgv } from './sandbox-argv.js';
import type { Listen } from './sandbox-argv.js';
import { openSpaceLog, readAccounts, tailSpaceFile } from './sandbox-fs.js';
import type { FileSpace } from './sandbox-fs.js';
import { credentials } from './sandbox-ids.js';
import { isAlive, procRef, requireTools, run, spawnDetached } from './sandbox-proc.js';
import type { Detached } from './sandbox-proc.js';
import type { RunState, ServiceRecord } from './sandbox-store.js';

/** Commands and services inside a running boot of a sandbox. */

export interface SandboxExecOptions {
  /** Name or id, resolved through the guest's own /etc/passwd; default root. */
  readonly user?: string | number;
  readonly input?: Uint8Array;
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Sockets bound (not listening) by host root and inherited: for `nginx -t`, which binds its listeners
   * even to test a configuration and would get EACCES for ports below 1024 in a user namespace. They bind
   * next to a running service's sockets, so the check works beside a running nginx as in a container.
   */
  readonly check?: readonly Listen[];
}

export interface ServiceOptions {
  /** What the lab's service manager calls it ("nginx"); only recorded. */
  readonly name?: string;
  readonly user?: string | number;
  /** Sockets bound by host root on 127/8 and inherited by the service (announced in $NGINX). */
  readonly listen?: readonly Listen[];
  readonly env?: Readonly<Record<string, string>>;
  /** Guest path that receives the service's stdout and stderr (appended). */
  readonly logFile: string;
  /** How long the service must survive to count as started; default 150 ms. */
  readonly settleMs?: number;
}

export interface Inside {
  readonly rootfs: string;
  readonly space: FileSpace;
  readonly label: string;
}

/** Listeners only ever on 127/8: the network rule, enforced where sockets are made. */
export function checkListen(listen: readonly Listen[]): readonly Listen[] {
  for (const l of listen) {
    try {
      assertLoopback(l.address, 'listen address');
    } catch (e) {
      throw new DriverError((e as Error).message);
    }
    if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535) {
      throw new DriverError(`invalid listen port ${l.port}`);
    }
  }
  return listen;
}

/** Runs an argv inside the boot as a guest user (default root) and waits for it. */
export async function execInside(
  t: Inside,
  state: RunState,
  argv: readonly string[],
  opts: SandboxExecOptions,
): Promise<ExecResult> {
  const listen = checkListen(opts.check ?? []);
  const creds = credentials(await readAccounts(t.space), opts.user ?? 0);
  const tools = requireTools();
  const inner = execArgv(tools, state.holder.pid, t.rootfs, creds, argv);
  return run(listen.length ? launcherArgv(tools, listen, inner, 'check') : inner, {
    env: guestEnv(creds, opts.env),
    ...(opts.input === undefined ? {} : { input: opts.input }),
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    what: `${argv.join(' ')} in ${t.label}`,
  });
}

/**
 * Starts a service inside the boot and returns its record (the pid stays the service's own through the
 * launcher's and nsenter's execs). Fails when it does not survive `settleMs`, with what it logged.
 */
export async function startService(
  t: Inside,
  state: RunState,
  argv: readonly string[],
  opts: ServiceOptions,
): Promise<ServiceRecord> {
  if (argv.length === 0) throw new DriverError('a service needs a command (empty argv)');
  const listen = checkListen(opts.listen ?? []);
  // SO_REUSEPORT would let a second service share a port and split its traffic: refuse that here.
  for (const other of state.services) {
    const clash = other.listen.find((o) => listen.some((l) => l.address === o.address && l.port === o.port));
    if (clash && (await isAlive(other))) {
      throw new DriverError(
        `${t.label}: ${clash.address}:${clash.port} is already served by pid ${other.pid}`,
      );
    }
  }
  const creds = credentials(await readAccounts(t.space), opts.user ?? 0);
  const tools = requireTools();
  const inner = execArgv(tools, state.holder.pid, t.rootfs, creds, argv);
  const full = listen.length ? launcherArgv(tools, listen, inner, 'serve') : inner;
  const log = await openSpaceLog(t.space, opts.logFile);
  let child: Detached;
  try {
    child = await spawnDetached(full, guestEnv(creds, opts.env), ['ignore', log.fd, log.fd]);
  } finally {
    await log.close();
  }
  const early = await Promise.race([
    child.exited,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), opts.settleMs ?? 150)),
  ]);
  if (early) {
    const how = early.signal ? `signal ${early.signal}` : `exit ${early.code}`;
    const said = (await tailSpaceFile(t.space, opts.logFile)).trim();
    throw new DriverError(
      `${t.label}: ${argv[0]} exited right away (${how}); a service must stay in the foreground` +
        (said ? `\n${said}` : ''),
    );
  }
  return {
    ...(await procRef(child.pid)),
    ...(opts.name === undefined ? {} : { name: opts.name }),
    argv: [...argv],
    logFile: opts.logFile,
    listen: [...listen],
  };
}
