import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertLoopback } from '../src/lab/address.js';
import { procRef, signalProc, terminate, waitGone, type ProcRef } from '../src/lab/sandbox-proc.js';
import { dnsmasqConf, nginxConf, type NginxConfOptions } from './certs-report.js';

/**
 * The processes of the certificate benchmark (bench/certs.ts): a loopback address with free ports, dnsmasq,
 * nginx, and the ACME clients run one process per certificate. Every process is started with an argv array
 * (never a shell), remembered by pid and kernel start time, and stopped by that identity only.
 */

const NGINX = '/usr/sbin/nginx';
const DNSMASQ = '/usr/sbin/dnsmasq';

// ---------------------------------------------------------------------------------------------------------
// Cleanup

/** Things to undo, undone last-first; each step runs once even if `run` is called again (signal + finally). */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => Promise<void> | void }> = [];

  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }

  /** Runs every step; returns the failures ("what: message"). */
  async run(): Promise<string[]> {
    const failures: string[] = [];
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (err) {
        failures.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    return failures;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Addresses and ports

function tcpFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function udpFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** A TCP port that was free on `address` a moment ago (and, with `udp`, free for UDP as well). */
export async function freePort(address: string, udp = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, address, () => {
        const info = server.address();
        server.close(() => resolve(typeof info === 'object' && info ? info.port : 0));
      });
    });
    if (!udp || (await udpFree(address, port))) return port;
  }
  throw new Error(`no free TCP+UDP port on ${address}`);
}

/**
 * A random 127.x.y.z away from the lab's 127.0.0.x guests, with ports 80 (step-ca validates http-01 there)
 * and 443 (the gateway) free on it.
 */
export async function pickBenchAddress(): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const rnd = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
    const address = assertLoopback(`127.${rnd(100, 250)}.${rnd(0, 255)}.${rnd(2, 254)}`);
    if ((await tcpFree(address, 80)) && (await tcpFree(address, 443))) return address;
  }
  throw new Error('no 127/8 address with ports 80 and 443 free found in 50 tries');
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

const MAX_OUTPUT = 256 * 1024;

/** Every child started by run(), so that an interrupt can stop them by pid. */
export const runningChildren = new Set<ChildProcess>();
/** Set by stopRunningChildren(): after an interrupt, run() starts nothing new. */
let refusing = false;

/** Runs one program (argv array, no shell) to its end; never rejects for a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  if (refusing) return Promise.reject(new Error(`not starting ${command}: interrupted`));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    runningChildren.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) err.push(b);
      errLen += b.length;
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs).unref();
    child.once('error', (e) => {
      runningChildren.delete(child);
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      runningChildren.delete(child);
      if (timer) clearTimeout(timer);
      resolve({
        code,
        signal,
        ms: performance.now() - t0,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** SIGTERM to every child still running (by its pid), and no new ones; used on interrupt. */
export function stopRunningChildren(): void {
  refusing = true;
  for (const child of runningChildren) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}

export const tail = (text: string, lines = 6): string => text.trimEnd().split('\n').slice(-lines).join('\n');

// ---------------------------------------------------------------------------------------------------------
// dnsmasq

export interface RunningDns {
  readonly ref: ProcRef;
  /** host:port, for step-ca's --resolver. */
  readonly server: string;
}

/** dnsmasq in the foreground (-k) with a generated config; ready once it answers `probeName`. */
export async function startDnsmasq(
  dir: string,
  o: { address: string; domain: string; answer: string; probeName: string },
  cleanup: Cleanup,
): Promise<RunningDns> {
  assertLoopback(o.address, 'dnsmasq address');
  assertLoopback(o.answer, 'dnsmasq answer');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const port = await freePort(o.address, true);
  const conf = join(dir, 'dnsmasq.conf');
  await writeFile(conf, dnsmasqConf({ ...o, port }), { mode: 0o644 });
  const log = await open(join(dir, 'dnsmasq.log'), 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(DNSMASQ, ['-k', '-C', conf], { stdio: ['ignore', log.fd, log.fd], detached: true });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', fail);
    });
  } finally {
    await log.close();
  }
  child.unref();
  const ref = await procRef(child.pid!);
  cleanup.add(`dnsmasq pid ${ref.pid}`, async () => void (await terminate([ref], 3_000)));
  const server = `${o.address}:${port}`;
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([server]);
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const answer = await resolver.resolve4(o.probeName);
      if (answer.includes(o.answer)) return { ref, server };
      throw new Error(`answered ${answer.join(', ')}, expected ${o.answer}`);
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const said = await readFile(join(dir, 'dnsmasq.log'), 'utf8').catch(() => '');
        throw new Error(
          `dnsmasq on ${server} does not resolve ${o.probeName} (${(err as Error).message}): ${tail(said, 3)}`,
        );
      }
      await sleep(25);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// nginx

/** A plain nginx in its own prefix: root master (daemonised), www-data worker, stopped by its master's pid. */
export class Nginx {
  readonly conf: string;
  readonly errorLog: string;
  private master?: ProcRef;

  constructor(readonly options: NginxConfOptions) {
    assertLoopback(options.address, 'nginx address');
    this.conf = join(options.prefix, 'nginx.conf');
    this.errorLog = join(options.prefix, 'error.log');
  }

  private args(...extra: string[]): string[] {
    // -e: the error log before the config is read is ours too (not /var/log/nginx/error.log).
    return ['-p', this.options.prefix, '-c', this.conf, '-e', this.errorLog, ...extra];
  }

  private async nginx(what: string, ...extra: string[]): Promise<RunResult> {
    const r = await run(NGINX, this.args(...extra), { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`nginx ${what} failed (exit ${r.code ?? r.signal}): ${tail(r.stderr)}`);
    return r;
  }

  async start(cleanup: Cleanup): Promise<ProcRef> {
    for (const sub of ['tmp', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
      await mkdir(join(this.options.prefix, sub), { recursive: true, mode: 0o700 });
    }
    await writeFile(this.conf, nginxConf(this.options), { mode: 0o644 });
    await this.test();
    await this.nginx('start');
    const pidFile = join(this.options.prefix, 'nginx.pid');
    const deadline = Date.now() + 5_000;
    let pid: number | undefined;
    while (pid === undefined) {
      const text = await readFile(pidFile, 'utf8').catch(() => '');
      if (/^\d+\s*$/.test(text)) pid = Number(text.trim());
      else if (Date.now() > deadline) throw new Error(`nginx wrote no pid to ${pidFile}`);
      else await sleep(10);
    }
    this.master = await procRef(pid);
    cleanup.add(`nginx master pid ${pid}`, () => this.stop());
    return this.master;
  }

  /** `nginx -t -q` with this config. */
  test(): Promise<RunResult> {
    return this.nginx('-t', '-t', '-q');
  }

  /** `nginx -s reload`: parses the config, then SIGHUPs the master named in the pid file. */
  reload(): Promise<RunResult> {
    return this.nginx('-s reload', '-s', 'reload');
  }

  /** SIGQUIT (graceful) to the master we started, then SIGTERM/SIGKILL to it and its workers if needed. */
  async stop(): Promise<void> {
    const master = this.master;
    if (!master) return;
    this.master = undefined;
    const workers = await childrenOf(master);
    if (await signalProc(master, 'SIGQUIT')) {
      const left = await waitGone([master, ...workers], 5_000);
      if (left.length) await terminate(left, 2_000);
    } else if (workers.length) {
      await terminate(workers, 2_000);
    }
  }
}

async function childrenOf(parent: ProcRef): Promise<ProcRef[]> {
  const text = await readFile(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').catch(() => '');
  const refs: ProcRef[] = [];
  for (const pid of text.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      refs.push(await procRef(pid));
    } catch {
      // already gone
    }
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------------------
// One process per certificate, by a pool of workers

export interface JobResult {
  readonly name: string;
  readonly worker: number;
  readonly ms: number;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface PoolResult {
  readonly totalMs: number;
  readonly jobs: JobResult[];
}

/**
 * `workers` loops, each taking the next name and running `command(worker, name)` to its end, as that many
 * cron jobs would. `check(name, result)` says whether the certificate really came out (undefined: yes).
 */
export async function runPool(
  names: readonly string[],
  workers: number,
  command: (worker: number, name: string) => { cmd: string; args: string[]; env: NodeJS.ProcessEnv },
  check: (worker: number, name: string, r: RunResult) => Promise<string | undefined>,
  shouldStop: () => boolean,
): Promise<PoolResult> {
  const jobs: JobResult[] = [];
  let next = 0;
  const t0 = performance.now();
  const loop = async (worker: number) => {
    while (next < names.length && !shouldStop()) {
      const name = names[next++]!;
      const { cmd, args, env } = command(worker, name);
      const r = await run(cmd, args, { env, timeoutMs: 120_000 });
      const problem =
        r.code === 0
          ? await check(worker, name, r)
          : `exit ${r.code ?? r.signal}: ${tail(r.stderr || r.stdout, 4)}`;
      jobs.push({
        name,
        worker,
        ms: r.ms,
        ok: problem === undefined,
        ...(problem === undefined ? {} : { detail: problem }),
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, names.length)) }, (_, w) => loop(w)));
  return { totalMs: performance.now() - t0, jobs };
}
