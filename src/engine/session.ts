import { existsSync, mkdirSync } from 'node:fs';
import { analyse, type Analysis } from '../analyse.js';
import { FileCertificateStore } from '../certs/file-store.js';
import { CERT_STORE_MUTATIONS, type CertificateStore } from '../certs/store.js';
import { ISSUER_MUTATIONS } from '../drivers/ca/types.js';
import { CONTAINER_MUTATIONS } from '../drivers/containers/types.js';
import { PORTAINER_MUTATIONS } from '../drivers/portainer/driver.js';
import { readOnly } from '../drivers/guard.js';
import { traced } from '../drivers/trace.js';
import { HYPERVISOR_MUTATIONS } from '../drivers/hypervisor/types.js';
import type { Drivers } from '../drivers/index.js';
import type { ResourceGraph } from '../graph/types.js';
import type { Inventory } from '../model/inventory.js';
import type { Context } from '../resources/types.js';
import { now, type EventSink } from './events.js';
import { Journal } from './journal.js';
import { acquireLock } from './lock.js';
import { statePaths } from './state-dir.js';

export type DriverChoice = 'lab' | 'proxmox' | 'memory';

export interface SessionOptions {
  readonly configDir: string;
  readonly stateDir: string;
  /** The lab's directory, for the lab driver. */
  readonly labDir?: string;
  readonly driver?: DriverChoice;
  /** The command line, for the journal and the lock holder. */
  readonly command: string;
  readonly args: readonly string[];
  /** Takes the lock and journals; plan and status do not. */
  readonly mutating: boolean;
  readonly dryRun?: boolean;
  readonly emit: EventSink;
  /** Per-call latency of the memory driver (benchmarks). */
  readonly memoryLatencyMs?: number;
  readonly forceRenew?: ReadonlySet<string>;
}

export interface Session {
  readonly analysis: Analysis;
  readonly inventory: Inventory;
  readonly graph: ResourceGraph;
  readonly ctx: Context;
  readonly readCtx: Context;
  readonly journal?: Journal;
  readonly runId: string;
  readonly command: string;
  /** Cancels in-flight waits (a second Ctrl-C). */
  readonly cancel: AbortController;
  /** Ends the run in the journal (when a result is given) and releases the lock; later calls do nothing. */
  close(outcome?: {
    outcome: 'ok' | 'failed' | 'interrupted';
    counts: { ok: number; unchanged: number; failed: number; skipped: number };
    durationMs: number;
  }): void;
}

export class SessionError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly analysis?: Analysis,
  ) {
    super(message);
  }
}

/** Everything a command that plans or acts needs: the analysed config, drivers, store, journal and lock. */
export async function openSession(opts: SessionOptions): Promise<Session> {
  const analysis = await analyse(opts.configDir);
  const { inventory, graph } = analysis;
  if (!inventory || !graph || analysis.diagnostics.errorCount > 0) {
    throw new SessionError(
      `the configuration has ${analysis.diagnostics.errorCount} error(s); run \`phoenix validate\``,
      2,
      analysis,
    );
  }
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const paths = statePaths(opts.stateDir);
  const lock = opts.mutating && !opts.dryRun ? acquireLock(paths.lock, { command: opts.command }) : undefined;
  try {
    const choice = opts.driver ?? inventory.target;
    // The lab acts on its view of the inventory: every address in 127/8, never a 10.x one.
    const ctxInventory = choice === 'lab' ? (await import('../lab/view.js')).labView(inventory) : inventory;
    const drivers = tracedDrivers(
      await createDrivers(
        choice,
        paths.memoryWorld,
        opts.memoryLatencyMs,
        ctxInventory,
        opts.labDir,
        opts.stateDir,
      ),
      opts.emit,
    );
    const certs: CertificateStore = new FileCertificateStore(paths.certs);
    const journal = opts.mutating && !opts.dryRun ? Journal.open(paths.journal) : undefined;
    journal?.reconcileCrashed();
    const pendingHandlers = journal ? journal.pendingHandlers() : readPending(paths.journal);
    const runId = journal
      ? journal.startRun({
          command: opts.command,
          args: [...opts.args],
          configDir: opts.configDir,
          pid: process.pid,
          dryRun: Boolean(opts.dryRun),
          startedAt: now(),
        })
      : `dry-${Date.now()}`;
    const cancel = new AbortController();
    const base = {
      inventory: ctxInventory,
      graph,
      certs,
      signal: cancel.signal,
      forceRenew: opts.forceRenew,
      pendingHandlers,
      waiting: () => {},
    };
    const readDrivers = readOnlyDrivers(drivers);
    const ctx: Context = {
      ...base,
      drivers: opts.dryRun ? readDrivers : drivers,
      certs: opts.dryRun ? readOnly(certs, CERT_STORE_MUTATIONS, 'certs') : certs,
    };
    const readCtx: Context = {
      ...base,
      drivers: readDrivers,
      certs: readOnly(certs, CERT_STORE_MUTATIONS, 'certs'),
    };
    let closed = false;
    return {
      analysis,
      inventory,
      graph,
      ctx,
      readCtx,
      journal,
      runId,
      command: opts.command,
      cancel,
      close(result) {
        if (closed) return;
        closed = true;
        if (journal)
          journal.endRun(
            runId,
            result ?? {
              outcome: 'failed',
              counts: { ok: 0, unchanged: 0, failed: 0, skipped: 0 },
              durationMs: 0,
            },
          );
        journal?.close();
        lock?.release();
      },
    };
  } catch (e) {
    lock?.release();
    throw e;
  }
}

/** Plans show owed handlers too, without taking the journal for writing. */
function readPending(path: string): Map<string, string> {
  if (!existsSync(path)) return new Map();
  const j = Journal.open(path);
  try {
    return j.pendingHandlers();
  } finally {
    j.close();
  }
}

export function tracedDrivers(d: Drivers, emit: EventSink): Drivers {
  const issuers = new Map<string, ReturnType<Drivers['issuer']>>();
  return {
    hypervisor: traced(d.hypervisor, 'hypervisor', emit),
    containers: traced(d.containers, 'containers', emit),
    portainer: traced(d.portainer, 'portainer', emit),
    secrets: d.secrets,
    tls: traced(d.tls, 'tls', emit),
    dns: traced(d.dns, 'dns', emit),
    http: traced(d.http, 'http', emit),
    issuer(name) {
      let i = issuers.get(name);
      if (!i) issuers.set(name, (i = traced(d.issuer(name), `issuer ${name}`, emit)));
      return i;
    },
  };
}

export function readOnlyDrivers(d: Drivers): Drivers {
  const issuers = new Map<string, ReturnType<Drivers['issuer']>>();
  return {
    hypervisor: readOnly(d.hypervisor, HYPERVISOR_MUTATIONS, 'hypervisor'),
    containers: readOnly(d.containers, CONTAINER_MUTATIONS, 'containers'),
    portainer: readOnly(d.portainer, PORTAINER_MUTATIONS, 'portainer'),
    secrets: d.secrets,
    tls: d.tls,
    dns: d.dns,
    http: d.http,
    issuer(name) {
      let i = issuers.get(name);
      if (!i) issuers.set(name, (i = readOnly(d.issuer(name), ISSUER_MUTATIONS, `issuer ${name}`)));
      return i;
    },
  };
}

async function createDrivers(
  choice: DriverChoice,
  worldPath: string,
  latencyMs: number | undefined,
  inventory: Inventory,
  labDir: string | undefined,
  stateDir: string,
): Promise<Drivers> {
  switch (choice) {
    case 'memory': {
      const { createMemoryDrivers } = await import('../drivers/memory/index.js');
      return createMemoryDrivers({ statePath: worldPath, latencyMs, inventory }).drivers;
    }
    case 'lab': {
      const { createLabDrivers } = await import('../drivers/lab/index.js');
      const { resolveLabDir } = await import('../lab/state.js');
      return createLabDrivers({ labDir: resolveLabDir(labDir), inventory });
    }
    case 'proxmox': {
      const { createProxmoxDrivers } = await import('../drivers/target/proxmox.js');
      return createProxmoxDrivers(inventory, stateDir);
    }
  }
}
