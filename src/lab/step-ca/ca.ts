import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificateFingerprint, httpsTransport } from '../../drivers/ca/trust.js';
import type { HttpsTransport } from '../../drivers/ca/trust.js';
import { createCaPki, createProvisionerKey } from './pki.js';

/**
 * A real step-ca for the lab and the tests: CA material and ca.json in one directory, the process started
 * and stopped by pid. Everything listens on 127.0.0.0/8 only.
 *
 * Layout of `dir` (0700):
 *   certs/root_ca.crt, certs/intermediate_ca.crt
 *   secrets/root_ca_key, secrets/intermediate_ca_key, secrets/provisioner-password   (0600)
 *   config/ca.json   db/   step-ca.log (0600)
 */

export interface PrepareCaOptions {
  /** A loopback IPv4 address (127.0.0.0/8). */
  readonly address: string;
  readonly port: number;
  /** Name of the JWK provisioner. */
  readonly jwkProvisioner: string;
  /** Encrypts the JWK provisioner's private key; written to secrets/provisioner-password (0600). */
  readonly provisionerPassword: string;
  /** Name of an ACME provisioner (http-01), if wanted. */
  readonly acmeProvisioner?: string;
  /** Names in the CA's own TLS certificate and token audiences; the address is always added. */
  readonly dnsNames: readonly string[];
  readonly rootCommonName?: string;
  readonly intermediateCommonName?: string;
}

export interface PreparedCa {
  readonly dir: string;
  readonly configPath: string;
  readonly url: string;
  readonly rootPem: string;
  /** SHA-256 of the root DER, lower-case hex. */
  readonly rootFingerprint: string;
  /** Where the provisioner password is (0600), for configuration that refers to secrets by file. */
  readonly passwordFile: string;
}

export interface RunningCa {
  readonly pid: number;
  readonly url: string;
  readonly rootPem: string;
  readonly rootFingerprint: string;
  readonly logFile: string;
}

export interface StartCaOptions {
  /** How long to wait for GET /health to answer {"status":"ok"}; default 20 s. */
  readonly timeoutMs?: number;
  /** DNS server step-ca resolves ACME identifiers with (host:port), e.g. the lab's dnsmasq. */
  readonly resolver?: string;
}

const PATHS = {
  root: 'certs/root_ca.crt',
  intermediate: 'certs/intermediate_ca.crt',
  rootKey: 'secrets/root_ca_key',
  intermediateKey: 'secrets/intermediate_ca_key',
  password: 'secrets/provisioner-password',
  config: 'config/ca.json',
  db: 'db',
  log: 'step-ca.log',
} as const;

export async function prepareCa(dir: string, options: PrepareCaOptions): Promise<PreparedCa> {
  const root = resolve(dir);
  assertLoopback(options.address);
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new Error(`invalid step-ca port ${options.port}`);
  }
  if (await exists(join(root, PATHS.config))) {
    throw new Error(
      `${join(root, PATHS.config)} already exists: prepareCa makes a new CA in an empty directory`,
    );
  }
  for (const sub of ['', 'certs', 'secrets', 'config', PATHS.db]) {
    await mkdir(join(root, sub), { recursive: true, mode: 0o700 });
  }

  const pki = await createCaPki({
    rootCommonName: options.rootCommonName ?? 'Phoenix Lab Root CA',
    intermediateCommonName: options.intermediateCommonName ?? 'Phoenix Lab Intermediate CA',
    organization: 'Phoenix lab',
  });
  const provisionerKey = await createProvisionerKey(options.provisionerPassword);

  await writeFile(join(root, PATHS.root), pki.root.certPem, { mode: 0o644 });
  await writeFile(join(root, PATHS.intermediate), pki.intermediate.certPem, { mode: 0o644 });
  await writeFile(join(root, PATHS.rootKey), pki.root.keyPem, { mode: 0o600 });
  await writeFile(join(root, PATHS.intermediateKey), pki.intermediate.keyPem, { mode: 0o600 });
  await writeFile(join(root, PATHS.password), options.provisionerPassword, { mode: 0o600 });

  const dnsNames = [...new Set([options.address, ...options.dnsNames])];
  const provisioners: unknown[] = [
    {
      type: 'JWK',
      name: options.jwkProvisioner,
      key: provisionerKey.publicJwk,
      encryptedKey: provisionerKey.encryptedKey,
    },
  ];
  if (options.acmeProvisioner !== undefined) {
    provisioners.push({ type: 'ACME', name: options.acmeProvisioner, challenges: ['http-01'] });
  }
  const config = {
    root: join(root, PATHS.root),
    federatedRoots: null,
    crt: join(root, PATHS.intermediate),
    key: join(root, PATHS.intermediateKey),
    address: `${options.address}:${options.port}`,
    insecureAddress: '',
    dnsNames,
    logger: { format: 'text' },
    db: { type: 'badgerv2', dataSource: join(root, PATHS.db) },
    authority: {
      claims: { minTLSCertDuration: '5m', maxTLSCertDuration: '2160h', defaultTLSCertDuration: '720h' },
      provisioners,
    },
    tls: { minVersion: 1.2, maxVersion: 1.3, renegotiation: false },
  };
  await writeFile(join(root, PATHS.config), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });

  return {
    dir: root,
    configPath: join(root, PATHS.config),
    url: `https://${options.address}:${options.port}`,
    rootPem: pki.root.certPem,
    rootFingerprint: certificateFingerprint(pki.root.certPem),
    passwordFile: join(root, PATHS.password),
  };
}

/**
 * Starts step-ca on the prepared directory and waits (bounded) until GET /health answers {"status":"ok"}
 * over TLS verified against the directory's root. The process runs in its own process group, detached
 * from this one: stop it with stopCa(pid). If it does not become healthy it is stopped before the error.
 */
export async function startCa(
  dir: string,
  binary: string,
  options: StartCaOptions = {},
  transport: HttpsTransport = httpsTransport,
): Promise<RunningCa> {
  const root = resolve(dir);
  const timeoutMs = options.timeoutMs ?? 20_000;
  const configPath = join(root, PATHS.config);
  const config = JSON.parse(await readFile(configPath, 'utf8')) as { address?: unknown };
  const address = typeof config.address === 'string' ? config.address : '';
  const host = address.slice(0, address.lastIndexOf(':'));
  assertLoopback(host);
  const url = `https://${address}`;
  const rootPem = await readFile(join(root, PATHS.root), 'utf8');
  const logFile = join(root, PATHS.log);

  // Flags before the config path (urfave/cli v1). No secret on argv: the intermediate key is a 0600 file.
  const argv = [...(options.resolver ? ['--resolver', options.resolver] : []), configPath];
  const log = await open(logFile, 'a', 0o600);
  let exited: string | undefined;
  let onExit: (why: string) => void = () => undefined;
  const exit = new Promise<string>((ok) => (onExit = ok));
  let pid: number | undefined;
  try {
    const child = spawn(binary, argv, {
      cwd: root,
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      // step's own files (if any) stay inside the CA directory, never in $HOME/.step.
      env: { ...process.env, STEPPATH: root },
    });
    child.on('exit', (code, signal) => {
      exited = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      onExit(exited);
    });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', fail);
    });
    pid = child.pid;
    child.unref();
  } catch (err) {
    throw new Error(`cannot start ${binary}: ${(err as Error).message}`);
  } finally {
    await log.close();
  }
  if (pid === undefined) throw new Error(`cannot start ${binary}: no pid`);

  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    // A probe is raced against the process's exit: a CA that dies (port taken, bad config) is reported at once.
    const probe = transport({
      method: 'GET',
      url: `${url}/health`,
      trust: { ca: rootPem },
      timeoutMs: Math.max(100, Math.min(1_000, deadline - Date.now())),
    }).then(
      (res) => {
        const body = safeJson(res.body);
        if (res.status === 200 && body?.status === 'ok') return true;
        last = `HTTP ${res.status} ${res.body.slice(0, 200)}`;
        return false;
      },
      (err: unknown) => {
        last = (err as Error).message;
        return false;
      },
    );
    const healthy = await Promise.race([probe, exit.then(() => false)]);
    if (exited !== undefined) {
      throw new Error(
        `step-ca (pid ${pid}) ${exited} before it was healthy; log ${logFile}:\n${await tail(logFile)}`,
      );
    }
    if (healthy) return { pid, url, rootPem, rootFingerprint: certificateFingerprint(rootPem), logFile };
    if (Date.now() >= deadline) {
      await stopCa(pid).catch(() => undefined);
      throw new Error(
        `step-ca (pid ${pid}) did not answer ${url}/health with {"status":"ok"} within ${timeoutMs} ms ` +
          `(last: ${last}); it was stopped. Log ${logFile}:\n${await tail(logFile)}`,
      );
    }
    await sleep(50);
  }
}

/**
 * Stops a step-ca started by startCa: SIGTERM, then SIGKILL after `graceMs`, waiting (bounded) until the
 * process has exited so that its port and badger DB lock are free. A pid that is already gone is fine; a
 * pid that is now some other program (reused) is refused, never signalled.
 */
export async function stopCa(pid: number, graceMs = 5_000): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing to signal pid ${pid}`);
  const state = processState(pid);
  if (state.state !== 'running') return;
  if (!state.argv.at(-1)?.endsWith(`/${PATHS.config}`)) {
    throw new Error(
      `refusing to stop pid ${pid}: it is not a step-ca started by startCa (${state.argv.join(' ')})`,
    );
  }
  if (!signal(pid, 'SIGTERM')) return;
  if (await exitedWithin(pid, graceMs)) return;
  signal(pid, 'SIGKILL');
  if (await exitedWithin(pid, 2_000)) return;
  throw new Error(`step-ca pid ${pid} is still running after SIGTERM and SIGKILL`);
}

/** True once the process has exited; a zombie is given a moment to be reaped by its parent (often us). */
async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let zombieSince: number | undefined;
  for (;;) {
    const { state } = processState(pid);
    if (state === 'gone') return true;
    if (state === 'zombie') {
      zombieSince ??= Date.now();
      if (Date.now() - zombieSince > 500) return true;
    }
    if (Date.now() >= deadline) return state === 'zombie';
    await sleep(20);
  }
}

/** False when there is no such process. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

type ProcessState = { state: 'gone' } | { state: 'zombie' } | { state: 'running'; argv: string[] };

/** From /proc: a zombie has exited (only its parent's wait() is missing). */
function processState(pid: number): ProcessState {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { state: 'gone' };
  }
  if (/^\d+ \(.*\) [ZX] /s.test(stat)) return { state: 'zombie' };
  let argv: string[] = [];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return { state: 'gone' };
  }
  return { state: 'running', argv };
}

function assertLoopback(address: string): void {
  if (!isIPv4(address) || !address.startsWith('127.')) {
    throw new Error(
      `step-ca address ${JSON.stringify(address)} is not a loopback IPv4 address (127.0.0.0/8)`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
