import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { open, readFile, readdir, readlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceeded, DriverError } from '../drivers/errors.js';
import type { LabTools } from './sandbox-argv.js';

/**
 * Process work of a sandbox: finding the host tools, running argvs, and knowing exactly which processes are
 * ours. A pid alone can be reused by an unrelated process after ours died, so every recorded pid carries the
 * kernel's start time of the process (field 22 of /proc/<pid>/stat); a signal is only sent after checking
 * both. Nothing here ever selects a process by its name.
 */

export interface ProcRef {
  readonly pid: number;
  /** Start time in clock ticks since boot: together with the pid, a process identity that is never reused. */
  readonly start: number;
}

const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const TOOL_NAMES = ['unshare', 'nsenter', 'mount', 'chroot', 'perl', 'cp', 'sleep'] as const;

let cachedTools: { tools?: LabTools; missing: string[] } | undefined;

/** The host tools the sandbox needs, by absolute path (never looked up through a caller's PATH). */
export function findTools(): { tools?: LabTools; missing: string[] } {
  if (cachedTools) return cachedTools;
  const found: Partial<Record<(typeof TOOL_NAMES)[number], string>> = {};
  const missing: string[] = [];
  for (const name of TOOL_NAMES) {
    const path = TOOL_DIRS.map((d) => `${d}/${name}`).find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (path) found[name] = path;
    else missing.push(name);
  }
  cachedTools = missing.length === 0 ? { tools: found as LabTools, missing } : { missing };
  return cachedTools;
}

export function requireTools(): LabTools {
  const { tools, missing } = findTools();
  if (!tools) throw new DriverError(`the lab needs these host tools: ${missing.join(', ')} (not found)`);
  return tools;
}

/** Why sandboxes cannot run here, or undefined when they can (root and every tool present). */
export function sandboxUnsupported(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'sandboxes need root (user namespaces with a shifted id map are set up by host root)';
  }
  const { missing } = findTools();
  return missing.length ? `missing host tools: ${missing.join(', ')}` : undefined;
}

interface ProcStat {
  readonly state: string;
  readonly ppid: number;
  readonly start: number;
}

async function procStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, ppid: Number(f[1]), start: Number(f[19]) };
}

/** The identity of a live process; throws when it is already gone. */
export async function procRef(pid: number): Promise<ProcRef> {
  const st = await procStat(pid);
  if (!st || st.state === 'Z') throw new DriverError(`process ${pid} exited right away`);
  return { pid, start: st.start };
}

/** True while the recorded process runs (a zombie has finished; a reused pid is somebody else). */
export async function isAlive(ref: ProcRef): Promise<boolean> {
  const st = await procStat(ref.pid);
  return st !== undefined && st.state !== 'Z' && st.start === ref.start;
}

export async function commandName(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** The namespace a process is in, as the kernel names it ("mnt:[4026532180]"). */
export async function namespaceOf(pid: number | 'self', kind: 'mnt' | 'user'): Promise<string | undefined> {
  try {
    return await readlink(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Every live process in a mount namespace: exactly the processes running inside one sandbox. */
export async function processesInMountNamespace(ns: string): Promise<ProcRef[]> {
  const out: ProcRef[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if ((await namespaceOf(pid, 'mnt')) !== ns) continue;
    const st = await procStat(pid);
    if (st && st.state !== 'Z') out.push({ pid, start: st.start });
  }
  return out;
}

/** Sends a signal to a recorded process if it is still that process; false when it was already gone. */
export async function signalProc(ref: ProcRef, sig: NodeJS.Signals): Promise<boolean> {
  if (!(await isAlive(ref))) return false;
  try {
    process.kill(ref.pid, sig);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

/** Waits until every process is gone, at most `ms`; returns the ones still alive. */
export async function waitGone(refs: readonly ProcRef[], ms: number): Promise<ProcRef[]> {
  const deadline = Date.now() + ms;
  let alive = [...refs];
  for (;;) {
    const checks = await Promise.all(alive.map(isAlive));
    alive = alive.filter((_, i) => checks[i]);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(20);
  }
}

export interface Termination {
  /** Ended by SIGTERM within the grace period. */
  readonly terminated: number[];
  /** Needed SIGKILL. */
  readonly killed: number[];
}

/** SIGTERM, then SIGKILL after a bounded wait, each only to processes that are still the recorded ones. */
export async function terminate(refs: readonly ProcRef[], graceMs: number): Promise<Termination> {
  const signalled: ProcRef[] = [];
  for (const ref of refs) if (await signalProc(ref, 'SIGTERM')) signalled.push(ref);
  const survivors = await waitGone(signalled, graceMs);
  for (const ref of survivors) await signalProc(ref, 'SIGKILL');
  const stuck = await waitGone(survivors, 5000);
  if (stuck.length > 0) {
    throw new DriverError(`processes ${stuck.map((r) => r.pid).join(', ')} survived SIGKILL`);
  }
  return {
    terminated: signalled.filter((r) => !survivors.includes(r)).map((r) => r.pid),
    killed: survivors.map((r) => r.pid),
  };
}

/**
 * Writes a uid_map or gid_map. The kernel accepts a map only from a single write() of the whole text (a
 * second write fails, a short one leaves a partial map), so the buffer goes out in exactly one call.
 */
export async function writeIdMap(pid: number, file: 'uid_map' | 'gid_map', text: string): Promise<void> {
  const data = Buffer.from(text);
  const fh = await open(`/proc/${pid}/${file}`, constants.O_WRONLY);
  try {
    const { bytesWritten } = await fh.write(data, 0, data.length, null);
    if (bytesWritten !== data.length) {
      throw new DriverError(`short write to /proc/${pid}/${file}: ${bytesWritten} of ${data.length} bytes`);
    }
  } finally {
    await fh.close();
  }
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly input?: Uint8Array;
  readonly timeoutMs?: number;
  /** Names the command in a timeout error. */
  readonly what?: string;
}

/** Runs an argv to completion. A signal death is reported as 128+signal, as a shell would. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new DriverError('empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? {}, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
            // Background children of the command may hold the pipes open: stop waiting for them.
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new DriverError(`cannot run ${file}: ${e.message}`));
    });
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (timedOut) {
        reject(new DeadlineExceeded(opts.what ?? argv.join(' '), opts.timeoutMs!));
        return;
      }
      resolve({
        exitCode: code ?? 128 + (signal ? osConstants.signals[signal] : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    };
    child.on('close', finish);
    child.on('exit', (code, signal) => {
      if (timedOut) finish(code, signal);
    });
    child.stdin.on('error', () => undefined); // a command that does not read its input closes the pipe early
    child.stdin.end(opts.input ? Buffer.from(opts.input) : undefined);
  });
}

/** Runs a host-side step of the sandbox's own machinery; a failure is a DriverError with its stderr. */
export async function runChecked(argv: readonly string[], what: string): Promise<void> {
  const r = await run(argv, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  if (r.exitCode !== 0) {
    throw new DriverError(`${what} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  }
}

export interface Detached {
  readonly pid: number;
  /** Settles when the process exits (attached before anything else can run, so an early exit is seen). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a process in its own session and process group, not tied to this Node process: lab guests outlive
 * the `phoenix` run that started them, like containers do. Resolves once the kernel has created it.
 */
export function spawnDetached(
  argv: readonly string[],
  env: Record<string, string>,
  stdio: StdioOptions = 'ignore',
): Promise<Detached> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new DriverError('empty argv'));
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(file, args, { detached: true, stdio, env });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.once('exit', (code, signal) => done({ code, signal })),
    );
    child.once('error', (e) => reject(new DriverError(`cannot start ${file}: ${e.message}`)));
    child.once('spawn', () => {
      child.unref();
      resolve({ pid: child.pid!, exited });
    });
  });
}

/** Polls `check` every 10 ms until it is true, at most `ms`; false when it never became true. */
export async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
}
