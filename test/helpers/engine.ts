import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse, type Analysis } from '../../src/analyse.js';
import { FileCertificateStore } from '../../src/certs/file-store.js';
import { CERT_STORE_MUTATIONS, type StoredCertificate } from '../../src/certs/store.js';
import { readOnly } from '../../src/drivers/guard.js';
import {
  createMemoryDrivers,
  type MemoryDrivers,
  type MemoryDriversOptions,
} from '../../src/drivers/memory/index.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { execute, type ExecuteResult } from '../../src/engine/execute.js';
import { Journal } from '../../src/engine/journal.js';
import { buildPlan, decideAll, observeAll, type Plan } from '../../src/engine/plan.js';
import { readOnlyDrivers } from '../../src/engine/session.js';
import { executionOrder } from '../../src/graph/order.js';
import type { ResourceGraph } from '../../src/graph/types.js';
import type { Context } from '../../src/resources/types.js';
import type { Drivers } from '../../src/drivers/index.js';
import type { Inventory } from '../../src/model/inventory.js';
import { createLabDrivers } from '../../src/drivers/lab/index.js';
import { labView } from '../../src/lab/view.js';

/** The engine wired to the in-memory world, in-process, for tests. */
export interface TestEngine {
  readonly analysis: Analysis;
  readonly graph: ResourceGraph;
  /** The memory world's drivers (unused when the engine acts on a lab). */
  readonly mem: MemoryDrivers;
  /** The drivers the engine acts through. */
  readonly drivers: Drivers;
  readonly events: EngineEvent[];
  readonly journal: Journal;
  readonly stateDir: string;
  sync(opts?: {
    graph?: ResourceGraph;
    /** Certificates to renew whether due or not. */
    force?: readonly string[];
    /** Wraps the drivers for this run (fault injection that the memory drivers' rules cannot express). */
    drivers?: (d: Drivers) => Drivers;
    servedDeadlineMs?: number;
    interrupt?: AbortSignal;
    plan?: Plan;
    concurrency?: number;
  }): Promise<ExecuteResult>;
  plan(graph?: ResourceGraph): Promise<Plan>;
  /** Phoenix's stored copy of a certificate (throws when not issued). */
  readStored(name: string): Promise<StoredCertificate>;
  /** A fresh engine over the same world and state (as a second process would see it). */
  reopen(): Promise<TestEngine>;
  close(): void;
}

export async function testEngine(
  configDir: string,
  opts: MemoryDriversOptions & {
    stateDir?: string;
    /** Act on this lab (its drivers and the lab view of the inventory) instead of the memory world. */
    labDir?: string;
    /**
     * Builds the drivers the engine acts through (e.g. the memory world's with another hypervisor). Called
     * once per engine, again on reopen.
     */
    drivers?: (built: { readonly inventory: Inventory; readonly mem: MemoryDrivers }) => Drivers;
  } = {},
): Promise<TestEngine> {
  const analysis = await analyse(configDir);
  if (!analysis.graph || !analysis.inventory || analysis.diagnostics.errorCount) {
    throw new Error(
      `fixture config is invalid: ${analysis.diagnostics.items.map((d) => d.message).join('; ')}`,
    );
  }
  const stateDir = opts.stateDir ?? temporary(mkdtempSync(join(tmpdir(), 'phoenix-engine-')));
  const mem = createMemoryDrivers({
    statePath: join(stateDir, 'world.json'),
    inventory: analysis.inventory,
    ...opts,
  });
  const certs = new FileCertificateStore(join(stateDir, 'certs'));
  const journal = Journal.open(join(stateDir, 'journal.sqlite'));
  const events: EngineEvent[] = [];
  const graph = analysis.graph;
  const inventory = opts.labDir ? labView(analysis.inventory) : analysis.inventory;
  const drivers = opts.drivers
    ? opts.drivers({ inventory, mem })
    : opts.labDir
      ? createLabDrivers({ labDir: opts.labDir, inventory })
      : mem.drivers;
  const base = {
    inventory,
    graph,
    signal: new AbortController().signal,
    waiting: () => {},
    pendingHandlers: journal.pendingHandlers(),
  };
  const ctx: Context = { ...base, drivers, certs };
  const readCtx: Context = {
    ...base,
    drivers: readOnlyDrivers(drivers),
    certs: readOnly(certs, CERT_STORE_MUTATIONS, 'certs'),
  };
  const engine: TestEngine = {
    analysis,
    graph,
    mem,
    drivers,
    events,
    journal,
    stateDir,
    async sync(o = {}) {
      const g = o.graph ?? graph;
      const runId = journal.startRun({
        command: 'test sync',
        args: [],
        configDir,
        pid: process.pid,
        dryRun: false,
        startedAt: new Date().toISOString(),
      });
      const force = o.force ? { forceRenew: new Set(o.force) } : {};
      const pendingHandlers = journal.pendingHandlers();
      const result = await execute(
        g,
        executionOrder(g),
        {
          ctx: {
            ...ctx,
            ...force,
            graph: g,
            pendingHandlers,
            drivers: o.drivers ? o.drivers(ctx.drivers) : ctx.drivers,
            ...(o.servedDeadlineMs !== undefined ? { servedDeadlineMs: o.servedDeadlineMs } : {}),
          },
          readCtx: { ...readCtx, ...force, graph: g, pendingHandlers },
          journal,
          runId,
          emit: (e) => events.push(e),
        },
        {
          command: 'sync',
          concurrency: o.concurrency ?? 8,
          perNodeLimit: 8,
          retry: { attempts: 3, baseDelayMs: 1 },
          interrupt: o.interrupt ?? new AbortController().signal,
          plan: o.plan,
        },
      );
      journal.endRun(runId, { outcome: result.outcome, counts: result.counts, durationMs: 0 });
      return result;
    },
    async plan(g = graph) {
      const order = executionOrder(g);
      const observed = await observeAll({ ...readCtx, graph: g }, order, 8);
      return buildPlan(g, order, order, observed, decideAll(g, order, observed), {
        configDir,
        configDigest: 'test',
      });
    },
    async readStored(name) {
      const stored = await certs.load(name);
      if (!stored) throw new Error(`${name} is not issued`);
      return stored;
    },
    async reopen() {
      journal.close();
      return testEngine(configDir, { ...opts, stateDir });
    },
    close() {
      journal.close();
    },
  };
  return engine;
}

/** State dirs are removed when the test process ends, whether or not a test reached its cleanup. */
const created: string[] = [];
function temporary(dir: string): string {
  if (created.length === 0)
    process.on('exit', () => created.forEach((d) => rmSync(d, { recursive: true, force: true })));
  created.push(dir);
  return dir;
}

export function cleanup(e: TestEngine): void {
  e.close();
  rmSync(e.stateDir, { recursive: true, force: true });
}
