import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isLoopbackV4 } from '../../../src/lab/address.js';
import { startPortainerEmulator } from './server.js';
import type { PortainerEmulator, PortainerState } from './server.js';

/**
 * The Portainer emulator (server.ts) as a process: what the lab runs where a portainer-ce container runs
 * (src/lab/services/portainer.ts). Like Portainer itself it serves the given certificate and key (read once,
 * at start: a renewed certificate needs a restart, as with the real container) and keeps its state in a
 * file, as Portainer does in /data: written atomically after each request that may change it and loaded at
 * start, so a restarted server still has its admin (a salted scrypt hash, never the password), environments,
 * stacks and volumes. With --probe-agents, creating an agent environment pings the agent (TLS, GET /ping);
 * an agent that does not answer fails the request as Portainer does. Only 127/8 is ever listened on or
 * connected to. With --docker-host (Portainer's `-H`), a server without environments creates the local one,
 * "primary", as Portainer does at start (and skips it when it already has environments).
 *
 *   node main.js --listen HOST:PORT [--cert FILE --key FILE] [--state FILE] [--init-window-ms MS]
 *                [--probe-agents] [--docker-host URL]
 */

export interface EmulatorArgs {
  readonly host: string;
  readonly port: number;
  readonly cert?: string;
  readonly key?: string;
  readonly state?: string;
  readonly initWindowMs?: number;
  readonly probeAgents: boolean;
  readonly dockerHost?: string;
}

/** `HOST:PORT` on 127/8, or an error saying why not. */
export function loopbackHostPort(text: string, what: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  const port = Number(colon < 0 ? NaN : text.slice(colon + 1));
  if (!isLoopbackV4(host)) throw new Error(`${what} ${JSON.stringify(text)}: only 127.0.0.0/8 is allowed`);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${what} ${JSON.stringify(text)}: bad port`);
  return { host, port };
}

export function parseArgs(argv: readonly string[]): EmulatorArgs {
  const values = new Map<string, string>();
  let probeAgents = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--probe-agents') probeAgents = true;
    else if (
      ['--listen', '--cert', '--key', '--state', '--init-window-ms', '--docker-host'].includes(a) &&
      argv[i + 1] !== undefined
    )
      values.set(a, argv[++i]!);
    else throw new Error(`unknown or incomplete option ${a}`);
  }
  const listen = values.get('--listen');
  if (listen === undefined) throw new Error('--listen HOST:PORT is required');
  const cert = values.get('--cert');
  const key = values.get('--key');
  if ((cert === undefined) !== (key === undefined)) throw new Error('--cert and --key go together');
  const window = values.get('--init-window-ms');
  if (window !== undefined && !/^\d+$/.test(window)) throw new Error('--init-window-ms takes milliseconds');
  return {
    ...loopbackHostPort(listen, '--listen'),
    ...(cert !== undefined ? { cert, key: key! } : {}),
    ...(values.has('--state') ? { state: values.get('--state')! } : {}),
    ...(window !== undefined ? { initWindowMs: Number(window) } : {}),
    ...(values.has('--docker-host') ? { dockerHost: values.get('--docker-host')! } : {}),
    probeAgents,
  };
}

/** Writes the state file like Portainer's database: temp file, fsync, rename; 0600 (it holds a hash). */
async function writeState(path: string, state: PortainerState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function readState(path: string): Promise<PortainerState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const state = JSON.parse(text) as PortainerState;
  if (state.format !== 1) throw new Error(`${path}: not a state file of this emulator`);
  return state;
}

/**
 * Whether an agent answers at tcp://HOST:PORT: Portainer pings the agent over TLS (the agent's certificate is
 * self-signed, hence not verified) and wants 204. Never connects outside 127/8.
 */
export function probeAgent(url: string, timeoutMs = 2000): Promise<boolean> {
  let target: { host: string; port: number };
  try {
    const u = new URL(url);
    if (u.protocol !== 'tcp:') return Promise.resolve(false);
    target = loopbackHostPort(`${u.hostname}:${u.port}`, 'agent');
  } catch (e) {
    process.stdout.write(`refused to probe ${url}: ${(e as Error).message}\n`);
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const req = request(
      {
        ...target,
        path: '/ping',
        method: 'GET',
        rejectUnauthorized: false,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 204);
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
    req.end();
  });
}

export async function runEmulator(args: EmulatorArgs): Promise<PortainerEmulator> {
  const tls =
    args.cert !== undefined
      ? { certPem: await readFile(args.cert, 'utf8'), keyPem: await readFile(args.key!, 'utf8') }
      : undefined;
  const state = args.state !== undefined ? await readState(args.state) : undefined;
  // Writes run one after another, each with the state as it is then: the last write is the newest state.
  let writes = Promise.resolve();
  const statePath = args.state;
  const emu = await startPortainerEmulator({
    host: args.host,
    port: args.port,
    ...(tls ? { tls } : {}),
    ...(state ? { state } : {}),
    ...(args.initWindowMs !== undefined ? { initWindowMs: args.initWindowMs } : {}),
    ...(statePath !== undefined
      ? {
          onChange: (s: PortainerState) => {
            const write = writes.then(() => writeState(statePath, s));
            writes = write.catch(() => undefined);
            return write;
          },
        }
      : {}),
    ...(args.probeAgents ? { probeAgent: (url: string) => probeAgent(url) } : {}),
  });
  if (args.dockerHost !== undefined && emu.endpoints.length === 0) {
    emu.addEndpoint({ name: 'primary', url: args.dockerHost });
    if (statePath !== undefined) await writeState(statePath, await emu.state());
  }
  // The request log is for tests in the same process; a long-running server keeps only the last ones.
  setInterval(() => emu.log.splice(0, Math.max(0, emu.log.length - 200)), 30_000).unref();
  return emu;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const emu = await runEmulator(args);
  const stop = () => void emu.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(
    `${new Date().toISOString()} phoenix lab Portainer emulator pid ${process.pid} listening on ${emu.url}` +
      `${args.state ? `, state ${args.state}` : ''}${args.cert ? `, certificate ${args.cert}` : ''}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`phoenix lab Portainer emulator: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
