import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadX509 } from '../certs/x509.js';
import { httpsTransport } from '../drivers/ca/trust.js';
import { assertLoopback } from './address.js';
import { pkcs8Pem, randomSerial } from './step-ca/pki.js';

/**
 * A throwaway pebble (Let's Encrypt's test ACME server, Debian's `pebble` 2.4.0) on a loopback address, for
 * tests and quick lab runs. Debian ships no TLS material for pebble's own listener, so each launch makes a
 * listener CA and a server certificate (localhost, 127.0.0.1 and the listen address) in a fresh temporary
 * directory. ACME clients trust `listenerCaPem` to talk to the directory; the certificates pebble issues
 * chain to a root it generates anew on every start, fetched with `rootPem()` from the management port.
 */

export interface PebbleOptions {
  /** A 127.0.0.0/8 address to listen on; default a random 127.0.0.x (x in 2..254). */
  readonly address?: string;
  /** The port pebble's VA connects to for http-01 validations; default 5002. */
  readonly httpPort?: number;
  /** The port pebble's VA connects to for tls-alpn-01 validations; default 5001. */
  readonly tlsPort?: number;
  /** `host:port` of the DNS server pebble resolves identifiers with (loopback only); default the system's. */
  readonly dnsServer?: string;
  /** PEBBLE_VA_ALWAYS_VALID=1: every challenge validates without being fetched. */
  readonly alwaysValid?: boolean;
  /** Parent of the temporary directory; default os.tmpdir(). */
  readonly parentDir?: string;
  /** How long to wait for GET /dir to answer; default 15 s. */
  readonly startTimeoutMs?: number;
}

export interface LaunchedPebble {
  readonly pid: number;
  readonly address: string;
  /** https://ADDRESS:PORT/dir */
  readonly directoryUrl: string;
  /** https://ADDRESS:PORT of the management interface (/roots/0, /intermediates/0, ...). */
  readonly managementUrl: string;
  /** What ACME clients must trust to talk to the directory (not the issuing root). */
  readonly listenerCaPem: string;
  /** Temporary directory with the config, listener PKI and pebble.log; removed by stop(). */
  readonly dir: string;
  /** The root pebble issues under (new on every start), from the management port's /roots/0. */
  rootPem(): Promise<string>;
  /** SIGTERM, then SIGKILL (bounded); waits for the exit and removes `dir`. Safe to call more than once. */
  stop(): Promise<void>;
}

const CONFIG = 'pebble-config.json';
const LOG = 'pebble.log';
const ATTEMPTS = 3;
const DAY_MS = 24 * 60 * 60 * 1000;
const BACKDATE_MS = 5 * 60 * 1000;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** The pebble binary on $PATH (or /usr/bin), or undefined. */
export function findPebble(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'pebble');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** Why pebble cannot be launched here, or undefined when it can. */
export function pebbleUnavailable(): string | undefined {
  if (findPebble() !== undefined) return undefined;
  return (
    'pebble is not installed (no executable "pebble" on $PATH or in /usr/bin): ' +
    'run scripts/setup-lab.sh as root, or apt-get install pebble'
  );
}

export async function launchPebble(options: PebbleOptions = {}): Promise<LaunchedPebble> {
  const binary = findPebble();
  if (binary === undefined) throw new Error(pebbleUnavailable());
  if (options.address !== undefined) assertLoopback(options.address, 'pebble address');
  if (options.dnsServer !== undefined) assertLoopbackHostPort(options.dnsServer);
  for (const [name, port] of [
    ['httpPort', options.httpPort],
    ['tlsPort', options.tlsPort],
  ] as const) {
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new Error(`pebble ${name} ${port} is not a TCP port`);
    }
  }

  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const address = options.address ?? `127.0.0.${2 + Math.floor(Math.random() * 253)}`;
    const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'phoenix-pebble-'));
    try {
      return await startIn(dir, binary, address, options);
    } catch (err) {
      lastError = err;
      await rm(dir, { recursive: true, force: true });
      if (!/address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
  throw lastError;
}

async function startIn(
  dir: string,
  binary: string,
  address: string,
  options: PebbleOptions,
): Promise<LaunchedPebble> {
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const [port, managementPort] = await freePorts(address, 2);
  const pki = await createListenerPki(address);
  const caFile = join(dir, 'listener-ca.pem');
  const certFile = join(dir, 'listener.pem');
  const keyFile = join(dir, 'listener.key');
  const configFile = join(dir, CONFIG);
  const logFile = join(dir, LOG);
  await writeFile(caFile, pki.caPem, { mode: 0o644 });
  await writeFile(certFile, pki.certPem, { mode: 0o644 });
  await writeFile(keyFile, pki.keyPem, { mode: 0o600 });
  await writeFile(
    configFile,
    `${JSON.stringify(
      {
        pebble: {
          listenAddress: `${address}:${port}`,
          managementListenAddress: `${address}:${managementPort}`,
          certificate: certFile,
          privateKey: keyFile,
          httpPort: options.httpPort ?? 5002,
          tlsPort: options.tlsPort ?? 5001,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      },
      null,
      2,
    )}\n`,
    { mode: 0o644 },
  );

  const directoryUrl = `https://${address}:${port}/dir`;
  const managementUrl = `https://${address}:${managementPort}`;
  const argv = ['-config', configFile, ...(options.dnsServer ? ['-dnsserver', options.dnsServer] : [])];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
  };
  if (options.alwaysValid) env.PEBBLE_VA_ALWAYS_VALID = '1';
  else delete env.PEBBLE_VA_ALWAYS_VALID;

  const log = await open(logFile, 'a', 0o600);
  let child: ChildProcess;
  let exited: string | undefined;
  let onExit: () => void = () => undefined;
  const exit = new Promise<void>((ok) => (onExit = ok));
  try {
    child = spawn(binary, argv, { cwd: dir, detached: true, stdio: ['ignore', log.fd, log.fd], env });
    child.on('exit', (code, sig) => {
      exited = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      onExit();
    });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', fail);
    });
    child.unref();
  } catch (err) {
    throw new Error(`cannot start ${binary}: ${(err as Error).message}`);
  } finally {
    await log.close();
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${binary}: no pid`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      try {
        await stopPebble(pid, configFile, exit, () => exited !== undefined);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })());

  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const probe = httpsTransport({
      method: 'GET',
      url: directoryUrl,
      trust: { ca: pki.caPem },
      timeoutMs: Math.max(100, Math.min(1_000, deadline - Date.now())),
    }).then(
      (res) => {
        if (res.status === 200 && directoryOk(res.body)) return true;
        last = `HTTP ${res.status} ${res.body.slice(0, 200)}`;
        return false;
      },
      (err: unknown) => {
        last = (err as Error).message;
        return false;
      },
    );
    const ready = await Promise.race([probe, exit.then(() => false)]);
    if (exited !== undefined) {
      const why = `pebble (pid ${pid}) ${exited} before ${directoryUrl} answered; log:\n${await tail(logFile)}`;
      await rm(dir, { recursive: true, force: true });
      throw new Error(why);
    }
    if (ready) break;
    if (Date.now() >= deadline) {
      const logText = await tail(logFile);
      await stop().catch(() => undefined);
      throw new Error(
        `pebble (pid ${pid}) did not answer GET ${directoryUrl} within ${timeoutMs} ms (last: ${last}); ` +
          `it was stopped. Log:\n${logText}`,
      );
    }
    await sleep(50);
  }

  return {
    pid,
    address,
    directoryUrl,
    managementUrl,
    listenerCaPem: pki.caPem,
    dir,
    async rootPem() {
      const res = await httpsTransport({
        method: 'GET',
        url: `${managementUrl}/roots/0`,
        trust: { ca: pki.caPem },
        timeoutMs: 5_000,
      });
      if (res.status !== 200 || !res.body.includes('-----BEGIN CERTIFICATE-----')) {
        throw new Error(
          `GET ${managementUrl}/roots/0 answered HTTP ${res.status}: ${res.body.slice(0, 200)}`,
        );
      }
      return res.body.endsWith('\n') ? res.body : `${res.body}\n`;
    },
    stop,
  };
}

/** SIGTERM to the pid (after checking it is still our pebble), then SIGKILL; bounded. */
async function stopPebble(
  pid: number,
  configFile: string,
  exit: Promise<void>,
  hasExited: () => boolean,
  graceMs = 5_000,
): Promise<void> {
  if (hasExited()) return;
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing to signal pid ${pid}`);
  const argv = cmdline(pid);
  if (argv === undefined) return;
  if (!argv.includes(configFile)) {
    throw new Error(`refusing to stop pid ${pid}: it is not the pebble started with ${configFile}`);
  }
  if (!signal(pid, 'SIGTERM')) return;
  if (await exitedWithin(exit, hasExited, graceMs)) return;
  signal(pid, 'SIGKILL');
  if (await exitedWithin(exit, hasExited, 2_000)) return;
  throw new Error(`pebble pid ${pid} is still running after SIGTERM and SIGKILL`);
}

/** Waits for the child's exit event (which means it has also been reaped), bounded. */
async function exitedWithin(exit: Promise<void>, hasExited: () => boolean, ms: number): Promise<boolean> {
  const timer = new AbortController();
  await Promise.race([exit, sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined)]);
  timer.abort();
  return hasExited();
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** The argv of a live (non-zombie) process, or undefined when there is none. */
function cmdline(pid: number): string[] | undefined {
  try {
    if (/^\d+ \(.*\) [ZX] /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

function directoryOk(body: string): boolean {
  try {
    const dir = JSON.parse(body) as Record<string, unknown>;
    return typeof dir.newNonce === 'string' && typeof dir.newAccount === 'string';
  } catch {
    return false;
  }
}

function assertLoopbackHostPort(hostPort: string): void {
  const colon = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new Error(`pebble dnsServer ${JSON.stringify(hostPort)} is not HOST:PORT`);
  }
  assertLoopback(hostPort.slice(0, colon), 'pebble dnsServer');
}

/** `count` distinct ports free on `address` a moment ago (all held open together, then released). */
async function freePorts(address: string, count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, address, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const info = s.address();
    return typeof info === 'object' && info !== null ? info.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  return ports;
}

interface ListenerPki {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A throwaway listener CA and a server certificate for localhost, 127.0.0.1 and `address`. */
async function createListenerPki(address: string): Promise<ListenerPki> {
  const x509 = await loadX509();
  const now = Date.now();
  const caKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: ['phoenix lab pebble listener CA'] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 30 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leafKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const ips = [...new Set(['127.0.0.1', address])];
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: ['localhost'] }],
    issuer: ca.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 30 * DAY_MS),
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        ...ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    caPem: `${ca.toString('pem')}\n`,
    certPem: `${leaf.toString('pem')}\n`,
    keyPem: await pkcs8Pem(leafKeys.privateKey),
  };
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
