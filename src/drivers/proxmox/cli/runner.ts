import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { DeadlineExceeded, DriverError } from '../../errors.js';

/**
 * Running an argv on the Proxmox node: locally (Phoenix runs on the node) or over SSH (`ssh.ts`). Both give
 * the same result for the same argv; callers never see which one ran. Nothing here interprets exit codes:
 * the typed wrappers (`pct.ts`, `qm.ts`, `pvesh.ts`) do, through `check()` in `errors.ts`.
 */

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as bytes, for binary output (`pct pull` to stdout, file reads). */
  readonly stdoutBytes: Uint8Array;
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. Without it stdin is empty (closed at once). */
  readonly input?: Uint8Array;
  /** Kill the (local) process after this long and reject with DeadlineExceeded. */
  readonly timeoutMs?: number;
  /** Aborting kills the (local) process and rejects with a DriverError (code "aborted"). */
  readonly signal?: AbortSignal;
  /** Names the command in a timeout error instead of the argv (which may hold values). */
  readonly what?: string;
}

export interface CommandRunner {
  /** "local" or "ssh root@pve1": for messages only. */
  readonly describe: string;
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Releases what the runner holds (the SSH master connection); a no-op locally. */
  close(): Promise<void>;
}

/** Spawns `file args` without a shell and collects its output. Shared by the local and the SSH runner. */
export function spawnCollect(
  file: string,
  args: readonly string[],
  opts: RunOptions & { readonly env?: NodeJS.ProcessEnv; readonly what: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new DriverError(`${opts.what}: aborted`, false, 'aborted'));
      return;
    }
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let stopped: 'timeout' | 'aborted' | undefined;
    const stop = (why: 'timeout' | 'aborted') => {
      if (stopped) return;
      stopped = why;
      child.kill('SIGKILL');
      // A background child of the command may hold the pipes open: stop waiting for them.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout'), opts.timeoutMs);
    const onAbort = () => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let done = false;
    const cleanup = () => {
      done = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (e) => {
      if (done) return;
      cleanup();
      reject(new DriverError(`cannot run ${file}: ${e.message}`));
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      cleanup();
      if (stopped === 'timeout') return reject(new DeadlineExceeded(opts.what, opts.timeoutMs!));
      if (stopped === 'aborted') return reject(new DriverError(`${opts.what}: aborted`, false, 'aborted'));
      const bytes = Buffer.concat(out);
      resolve({
        // A signal death is reported as 128+signal, as a shell would.
        exitCode: code ?? 128 + (signal ? osConstants.signals[signal] : 0),
        stdout: bytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      });
    };
    child.on('close', finish);
    child.on('exit', (code, signal) => {
      if (stopped) finish(code, signal);
    });
    child.stdin.on('error', () => undefined); // a command that does not read its input closes the pipe early
    child.stdin.end(opts.input ? Buffer.from(opts.input) : undefined);
  });
}

export interface LocalRunnerOptions {
  /** Environment of the commands; defaults to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs argvs on this machine (Phoenix runs on the Proxmox node). */
export class LocalRunner implements CommandRunner {
  readonly describe = 'local';
  constructor(private readonly options: LocalRunnerOptions = {}) {}

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new DriverError('empty argv'));
    return spawnCollect(file, args, { ...opts, env: this.options.env, what: opts.what ?? file });
  }

  async close(): Promise<void> {}
}
