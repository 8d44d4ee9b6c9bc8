import { issueAndStore } from '../src/certs/issue.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { analyse } from '../src/analyse.js';
import { FileCertificateStore } from '../src/certs/file-store.js';
import { CERT_STORE_MUTATIONS, type CertificateStore } from '../src/certs/store.js';
import { StepCaJwkIssuer } from '../src/drivers/ca/step-jwk.js';
import type { Http01Responder, IssuerDriver } from '../src/drivers/ca/types.js';
import { readOnly } from '../src/drivers/guard.js';
import type { Drivers } from '../src/drivers/index.js';
import { createMemoryDrivers, MemoryWorld } from '../src/drivers/memory/index.js';
import { mapLimit } from '../src/engine/concurrency.js';
import type { Counts, EngineEvent } from '../src/engine/events.js';
import { execute } from '../src/engine/execute.js';
import { Journal } from '../src/engine/journal.js';
import { readOnlyDrivers, tracedDrivers } from '../src/engine/session.js';
import { executionOrder, requiredClosure, subgraph } from '../src/graph/order.js';
import type { Certificate, Inventory, Issuer } from '../src/model/inventory.js';
import type { Context } from '../src/resources/types.js';
import { stats, type Stats } from './certs-report.js';

/**
 * Phoenix's side of the certificate benchmark, one process per measurement (bench/certs.ts spawns it and
 * times it from spawn to exit, as it times each lego and certbot process):
 *
 *   node dist/bench/certs-phoenix.js setup  <config-dir> <state-dir> --save-world FILE
 *   node dist/bench/certs-phoenix.js engine <config-dir> <state-dir> --world FILE --certs a,b,…
 *                                           [--concurrency 16] [--per-node-limit 4]
 *   node dist/bench/certs-phoenix.js direct <config-dir> <state-dir> --certs a,b,… [--concurrency 16]
 *                                           [--webroot DIR] [--root FILE]
 *
 * `setup` syncs the CA guest into a memory world (saved to FILE), so that the measured run finds it there.
 * `engine` is `phoenix sync cert/…` as the CLI wires it (traced drivers, journal, the file certificate
 * store, CLI default concurrency), with the memory hypervisor (loaded from FILE) and the REAL issuers of the
 * config: the certificates' issuer talks to the bench's step-ca. `direct` skips the engine: key + CSR +
 * issue + store for each certificate through mapLimit at the engine's concurrency; it is how an issuer the
 * engine cannot drive yet (ACME needs an http-01 responder) is measured, answering http-01 into DIR and
 * trusting the CA root in FILE.
 * Prints one JSON line (PhoenixMeasurement).
 */

export interface PhoenixMeasurement {
  readonly mode: 'setup' | 'engine' | 'direct';
  readonly issuer: string;
  /** From process start to main() (module loading). */
  readonly startupMs: number;
  readonly analyseMs: number;
  /** The sync (engine) or the issuing loop (direct). */
  readonly issueMs: number;
  readonly outcome: 'ok' | 'failed' | 'interrupted';
  readonly counts: Counts;
  readonly errors: string[];
  readonly concurrency: number;
  readonly perNodeLimit: number;
  readonly maxRssMb: number;
  /** Where the time goes: each certificate from start to stored (engine: its node's duration). */
  readonly certMs: Stats | null;
  /** The issuer's issue() calls alone. */
  readonly issueCallMs: Stats | null;
  /** Engine: the observation round before anything is applied. */
  readonly observeMs?: number;
  /** Engine: time inside journal calls (synchronous SQLite). */
  readonly journalMs?: number;
  /** Event-loop utilisation during issueMs: near 1, the main thread is the bound, not the CA. */
  readonly eventLoopUtilization: number;
}

const ISSUER_TIMEOUT_MS = 15_000;

function usage(): never {
  process.stderr.write(
    'usage: node dist/bench/certs-phoenix.js setup|engine|direct <config-dir> <state-dir> [--world FILE] [--save-world FILE]\n' +
      '         [--certs a,b,…] [--concurrency N] [--per-node-limit N] [--webroot DIR] [--root FILE]\n',
  );
  process.exit(2);
}

async function secretValue(ref: string, what: string): Promise<string> {
  if (ref.startsWith('file:')) return (await readFile(ref.slice(5), 'utf8')).trim();
  if (ref.startsWith('env:')) {
    const v = process.env[ref.slice(4)];
    if (v === undefined) throw new Error(`${what}: $${ref.slice(4)} is not set`);
    return v;
  }
  throw new Error(`${what}: the bench only reads secrets by reference (file: or env:)`);
}

/** The real issuer for an issuer of the config, as a non-lab driver would build it. */
async function realIssuer(issuer: Issuer, stateDir: string, rootFile?: string): Promise<IssuerDriver> {
  if (issuer.type === 'step-ca-jwk') {
    if (!issuer.root_fingerprint) throw new Error(`issuer ${issuer.name}: the bench needs root_fingerprint`);
    return new StepCaJwkIssuer({
      url: issuer.url,
      provisioner: issuer.provisioner,
      password: await secretValue(issuer.password, `issuer ${issuer.name} password`),
      rootFingerprint: issuer.root_fingerprint,
      timeoutMs: ISSUER_TIMEOUT_MS,
      name: issuer.name,
    });
  }
  // The ACME issuer is loaded by name, so this file builds whatever the state of src/drivers/ca/acme.ts.
  const specifier = '../src/drivers/ca/acme.js';
  const mod = (await import(specifier)) as {
    AcmeIssuer?: new (options: Record<string, unknown>) => IssuerDriver;
  };
  if (typeof mod.AcmeIssuer !== 'function') throw new Error('src/drivers/ca/acme.ts exports no AcmeIssuer');
  // step-ca's ACME listener and what it signs chain to the same root: the file the bench passes.
  if (!rootFile) throw new Error(`issuer ${issuer.name}: the bench needs --root FILE for an ACME issuer`);
  const rootPem = await readFile(rootFile, 'utf8');
  return new mod.AcmeIssuer({
    directoryUrl: issuer.directory,
    name: issuer.name,
    ...(issuer.email ? { email: issuer.email } : {}),
    trustPem: rootPem,
    accountKeyFile: join(stateDir, 'acme', `${issuer.name}.account.pem`),
    rootsPem: () => Promise.resolve(rootPem),
    timeoutMs: ISSUER_TIMEOUT_MS,
  });
}

/** http-01 answers as files in the gateway's webroot, which nginx serves on port 80. */
function webrootResponder(webroot: string): Http01Responder {
  const dir = join(webroot, '.well-known', 'acme-challenge');
  return {
    async present(token, keyAuthorization) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await writeFile(join(dir, token), keyAuthorization, { mode: 0o644 });
    },
    async cleanup(token) {
      await rm(join(dir, token), { force: true });
    },
  };
}

function certificatesNamed(inventory: Inventory, names: readonly string[]): Certificate[] {
  return names.map((n) => {
    const c = inventory.certificates.find((x) => x.name === n);
    if (!c) throw new Error(`the config has no certificate ${n}`);
    return c;
  });
}

async function main(): Promise<void> {
  const startupMs = performance.now();
  const [mode, configDir, stateDir, ...rest] = process.argv.slice(2);
  if ((mode !== 'setup' && mode !== 'engine' && mode !== 'direct') || !configDir || !stateDir) usage();
  const flag = (name: string) => {
    const i = rest.indexOf(name);
    return i < 0 ? undefined : rest[i + 1];
  };
  const concurrency = Number(flag('--concurrency') ?? 16);
  const perNodeLimit = Number(flag('--per-node-limit') ?? 4);
  const names = (flag('--certs') ?? '').split(',').filter(Boolean);

  const a0 = performance.now();
  const analysis = await analyse(configDir);
  const analyseMs = performance.now() - a0;
  const { graph, inventory } = analysis;
  if (!graph || !inventory || analysis.diagnostics.errorCount) {
    const first = analysis.diagnostics.items.find((d) => d.severity === 'error');
    throw new Error(`${configDir}: the configuration is invalid${first ? `: ${first.message}` : ''}`);
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const store = new FileCertificateStore(join(stateDir, 'certs'));
  const errors: string[] = [];
  const counts: Counts = { ok: 0, unchanged: 0, failed: 0, skipped: 0 };
  let outcome: PhoenixMeasurement['outcome'] = 'ok';
  let issueMs: number;
  const certMs: number[] = [];
  const issueCallMs: number[] = [];
  let observeMs: number | undefined;
  const journalTime = { ms: 0 };
  let elu = 0;
  const certs = certificatesNamed(inventory, names);
  const issuerNames = [...new Set(certs.map((c) => c.issuer))];

  if (mode === 'direct') {
    const issuers = new Map<string, IssuerDriver>();
    for (const n of issuerNames) {
      issuers.set(n, await realIssuer(inventory.issuers.get(n)!, stateDir, flag('--root')));
    }
    const webroot = flag('--webroot');
    const http01 = webroot ? webrootResponder(webroot) : undefined;
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    // What the cert handler's apply does (src/certs/issue.ts), without the engine around it.
    await mapLimit(certs, concurrency, async (cert) => {
      const c0 = performance.now();
      try {
        await issueAndStore(
          timed(issuers.get(cert.issuer)!, issueCallMs),
          store,
          cert,
          http01 ? { http01 } : {},
        );
        certMs.push(performance.now() - c0);
        counts.ok++;
      } catch (err) {
        counts.failed++;
        outcome = 'failed';
        if (errors.length < 5) errors.push(`${cert.name}: ${(err as Error).message}`);
      }
    });
    issueMs = performance.now() - t0;
    elu = performance.eventLoopUtilization(elu0).utilization;
  } else {
    // The CLI's wiring (src/engine/session.ts), with the memory hypervisor and the real issuers.
    const mem = createMemoryDrivers({});
    const worldPath = flag('--world');
    if (worldPath) mem.world.state = MemoryWorld.open(worldPath).state;
    const issuers = new Map<string, IssuerDriver>();
    for (const issuer of inventory.issuers.values()) {
      if (issuer.type === 'step-ca-jwk') issuers.set(issuer.name, await realIssuer(issuer, stateDir));
    }
    // Whatever else the memory drivers offer stays theirs; only the issuers are real.
    const base: Drivers = {
      ...mem.drivers,
      issuer(name) {
        const i = issuers.get(name);
        if (!i) throw new Error(`the bench wires no issuer "${name}" into the engine`);
        return i;
      },
    };
    let applyAt: number | undefined;
    const sink = (e: EngineEvent) => {
      if (e.type === 'phase' && e.phase === 'apply') applyAt ??= performance.now();
      if (e.type === 'node-end' && e.id.startsWith('cert/') && e.outcome === 'ok') certMs.push(e.durationMs);
      if (e.type === 'driver-call' && e.driver.startsWith('issuer') && e.method === 'issue')
        issueCallMs.push(e.durationMs);
      if (e.type === 'node-end' && e.outcome === 'failed' && errors.length < 5)
        errors.push(`${e.id}: ${e.error ?? e.reason}`);
    };
    const drivers = tracedDrivers(base, sink);
    const certStore: CertificateStore = store;
    const journal = timedJournal(Journal.open(join(stateDir, 'journal.sqlite')), journalTime);
    try {
      journal.reconcileCrashed();
      const wanted = mode === 'setup' ? ['guest/103'] : certs.map((c) => `cert/${c.name}`);
      const order = executionOrder(subgraph(graph, requiredClosure(graph, wanted)));
      const ctxBase = {
        inventory,
        graph,
        signal: new AbortController().signal,
        waiting: () => {},
        pendingHandlers: journal.pendingHandlers(),
      };
      const ctx: Context = { ...ctxBase, drivers, certs: certStore };
      const readCtx: Context = {
        ...ctxBase,
        drivers: readOnlyDrivers(drivers),
        certs: readOnly(certStore, CERT_STORE_MUTATIONS, 'certs'),
      };
      const command = `phoenix sync ${wanted.length > 3 ? `${wanted.length} certificates` : wanted.join(' ')}`;
      const runId = journal.startRun({
        command,
        args: wanted,
        configDir,
        pid: process.pid,
        dryRun: false,
        startedAt: new Date().toISOString(),
      });
      const t0 = performance.now();
      const elu0 = performance.eventLoopUtilization();
      journalTime.ms = 0;
      const result = await execute(
        graph,
        order,
        { ctx, readCtx, journal, runId, emit: sink },
        {
          command,
          concurrency,
          perNodeLimit,
          retry: { attempts: 3, baseDelayMs: 250 },
          interrupt: new AbortController().signal,
        },
      );
      issueMs = performance.now() - t0;
      elu = performance.eventLoopUtilization(elu0).utilization;
      observeMs = (applyAt ?? t0) - t0;
      journal.endRun(runId, {
        outcome: result.outcome,
        counts: result.counts,
        durationMs: Math.round(issueMs),
      });
      outcome = result.outcome;
      Object.assign(counts, result.counts);
      const saveWorld = flag('--save-world');
      if (saveWorld) writeFileSync(saveWorld, JSON.stringify(mem.world.state));
    } finally {
      journal.close();
    }
  }

  const result: PhoenixMeasurement = {
    mode,
    issuer: issuerNames.join(',') || '–',
    startupMs,
    analyseMs,
    issueMs,
    outcome,
    counts,
    errors,
    concurrency,
    perNodeLimit,
    // maxRSS is in kilobytes.
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    certMs: certMs.length ? stats(certMs) : null,
    issueCallMs: issueCallMs.length ? stats(issueCallMs) : null,
    ...(observeMs === undefined ? {} : { observeMs, journalMs: journalTime.ms }),
    eventLoopUtilization: elu,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

/** The journal with the time spent in its (synchronous) calls added up. */
function timedJournal(journal: Journal, acc: { ms: number }): Journal {
  return new Proxy(journal, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          acc.ms += performance.now() - t0;
        }
      };
    },
  });
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  try {
    await main();
  } catch (err) {
    // One line for the parent's report; the stack only when it is not a plain Error.
    process.stderr.write(`certs-phoenix: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

/** The issuer with each issue call's duration recorded, so the CA's share of the time can be reported. */
function timed(issuer: IssuerDriver, into: number[]): IssuerDriver {
  return {
    name: issuer.name,
    roots: () => issuer.roots(),
    async issue(request, options) {
      const t0 = performance.now();
      try {
        return await issuer.issue(request, options);
      } finally {
        into.push(performance.now() - t0);
      }
    },
  };
}
