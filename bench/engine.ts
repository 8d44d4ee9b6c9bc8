import { forEachFlag } from './args.js';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { analyse, type Analysis } from '../src/analyse.js';
import { FileCertificateStore } from '../src/certs/file-store.js';
import { CERT_STORE_MUTATIONS, type CertificateStore } from '../src/certs/store.js';
import { readOnly } from '../src/drivers/guard.js';
import { createMemoryDrivers, MemoryWorld, type MemoryDrivers } from '../src/drivers/memory/index.js';
import type { Counts, EngineEvent, RunOutcome } from '../src/engine/events.js';
import { execute } from '../src/engine/execute.js';
import { Journal } from '../src/engine/journal.js';
import { buildPlan, decideAll, observeAll, summarize, type PlanSummary } from '../src/engine/plan.js';
import { readOnlyDrivers, tracedDrivers } from '../src/engine/session.js';
import { executionOrder } from '../src/graph/order.js';
import type { ResourceGraph } from '../src/graph/types.js';
import type { Inventory } from '../src/model/inventory.js';
import type { Context } from '../src/resources/types.js';
import { writeSyntheticConfig } from './synthetic.js';

/**
 * The engine benchmark (issue 3): `node dist/bench/engine.js` or `npm run bench -- --engine`.
 *
 * 1. The engine wired in-process to the in-memory drivers at 50 ms per driver call, over a synthetic
 *    topology of 200 guests: a full `sync all` from an empty world (wall time against the observation
 *    round plus the critical path of the executed DAG, each node weighing its own measured duration), at a
 *    concurrency wide enough for the graph and at the CLI defaults; then a no-op sync (wall time against one
 *    observation round alone, and zero mutating calls).
 * 2. Plan time (observe + decide + build) for 5,000 guests at zero latency, from an empty world and after a
 *    full sync, each in a fresh process for its peak RSS (bench/engine-measure.ts).
 *
 * Wiring is the CLI's (src/engine/session.ts): traced drivers, a journal, the file certificate store, a
 * read-only context for the observation round. The memory world is not persisted (the CLI's
 * `--driver memory` writes and fsyncs world.json on every mutation; that is the emulator, not the engine).
 * Everything is local: temp dirs only, no network.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench → the checkout. */
const ROOT = resolve(HERE, '..', '..');
const MEASURE = join(HERE, 'engine-measure.js');
const RESULTS = join(ROOT, 'bench', 'results', 'engine.json');

export const GOALS = {
  /** wall / (observation round + critical path) of a full sync. */
  maxSyncRatio: 1.2,
  /** no-op sync wall / one observation round. */
  maxNoopRatio: 2,
};

export const CLI_DEFAULTS = { concurrency: 16, perNodeLimit: 4 } as const;
/**
 * Unbounded in effect (the 200-guest graph never has 1,024 nodes ready at once; see peak in flight), the
 * brief's example 64/64, and the CLI defaults.
 */
const DEFAULT_SETTINGS: SyncSettings[] = [
  { concurrency: 1024, perNodeLimit: 1024 },
  { concurrency: 64, perNodeLimit: 64 },
  CLI_DEFAULTS,
];

function settingsLabel(s: SyncSettings): string {
  const defaults = s.concurrency === CLI_DEFAULTS.concurrency && s.perNodeLimit === CLI_DEFAULTS.perNodeLimit;
  return `${s.concurrency}/${s.perNodeLimit}${defaults ? ' (CLI defaults)' : ''}`;
}

// ---------------------------------------------------------------------------------------------------------
// Measuring

/** An engine event with the moment (performance.now()) the sink received it. */
export interface TimedEvent {
  readonly t: number;
  readonly e: EngineEvent;
}

export interface CriticalPath {
  /** Sum of the durations along the heaviest chain of requirements. */
  readonly ms: number;
  /** That chain, requirements first. */
  readonly path: string[];
}

/**
 * The longest path through a DAG where each node weighs its own duration: the time a walk with unbounded
 * parallelism and zero scheduling cost would need. Nodes without a duration weigh 0; requirements outside
 * `ids` are ignored (outside the selection). Throws on a cycle.
 */
export function criticalPath(
  ids: readonly string[],
  requires: (id: string) => readonly string[],
  durations: ReadonlyMap<string, number>,
): CriticalPath {
  const inSet = new Set(ids);
  const reqs = new Map<string, string[]>();
  const dependents = new Map<string, string[]>();
  const indegree = new Map<string, number>();
  for (const id of ids) {
    const r = [...new Set(requires(id))].filter((x) => inSet.has(x) && x !== id);
    reqs.set(id, r);
    indegree.set(id, r.length);
    for (const x of r) (dependents.get(x) ?? dependents.set(x, []).get(x)!).push(id);
  }
  const finish = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  const queue = ids.filter((id) => indegree.get(id) === 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    let start = 0;
    let best: string | undefined;
    for (const r of reqs.get(id)!) {
      const f = finish.get(r)!;
      if (best === undefined || f > start) {
        start = f;
        best = r;
      }
    }
    finish.set(id, start + (durations.get(id) ?? 0));
    via.set(id, best);
    for (const d of dependents.get(id) ?? []) {
      const left = indegree.get(d)! - 1;
      indegree.set(d, left);
      if (left === 0) queue.push(d);
    }
  }
  if (queue.length !== inSet.size) throw new Error('criticalPath: the graph has a cycle');
  let end: string | undefined;
  for (const id of ids) if (end === undefined || finish.get(id)! > finish.get(end)!) end = id;
  const path: string[] = [];
  for (let at = end; at !== undefined; at = via.get(at)) path.push(at);
  return { ms: end === undefined ? 0 : finish.get(end)!, path: path.reverse() };
}

/** Node id → durationMs of its node-end event. */
export function nodeDurations(events: Iterable<EngineEvent>): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) if (e.type === 'node-end') out.set(e.id, e.durationMs);
  return out;
}

/**
 * Most nodes at work at once, and for how long `limit` of them were (the global limit was binding), from
 * node-end moments and their durations.
 */
export function inFlight(
  events: readonly TimedEvent[],
  limit: number,
): { peak: number; saturatedMs: number } {
  const edges: Array<[number, number]> = [];
  for (const { t, e } of events) {
    // durationMs comes from Date.now() (whole ms): shave 1 ms so that back-to-back nodes do not overlap.
    if (e.type !== 'node-end' || e.durationMs <= 1) continue;
    edges.push([t - e.durationMs + 1, 1], [t, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  let saturatedMs = 0;
  let last = 0;
  for (const [t, d] of edges) {
    if (now >= limit) saturatedMs += t - last;
    last = t;
    peak = Math.max(peak, (now += d));
  }
  return { peak, saturatedMs };
}

/** Longest chain of requirements in the resource graph, in nodes. */
export function longestChain(ids: readonly string[], requires: (id: string) => readonly string[]): number {
  return criticalPath(ids, requires, new Map(ids.map((id) => [id, 1]))).ms;
}

/** Longest chain of guests through `dependencies` and clone sources, in guests. */
export function longestGuestChain(inventory: Pick<Inventory, 'guests'>): number {
  const ids = [...inventory.guests.keys()].map(String);
  return longestChain(ids, (id) => {
    const g = inventory.guests.get(Number(id) as never)!;
    return [...g.dependencies, ...(g.cloneFrom === undefined ? [] : [g.cloneFrom])].map(String);
  });
}

// ---------------------------------------------------------------------------------------------------------
// The engine, wired as the CLI wires it, over an in-memory world

export interface SyncSettings {
  readonly concurrency: number;
  readonly perNodeLimit: number;
}

export interface SyncMeasurement extends SyncSettings {
  readonly outcome: RunOutcome;
  readonly counts: Counts;
  /** execute() from call to return. */
  readonly wallMs: number;
  /** From the call to the 'apply' phase: observeAll + decideAll. */
  readonly observeMs: number;
  readonly applyMs: number;
  readonly criticalPathMs: number;
  readonly criticalPathNodes: number;
  /** Kinds along the critical path, requirements first, runs of one kind collapsed ("guest×3"). */
  readonly criticalPathKinds: string;
  /** wall / (observation round + critical path). */
  readonly ratio: number;
  readonly mutations: number;
  readonly driverCalls: number;
  /** Most nodes at work at once (from node-end moments and durations, ±1 ms rounding). */
  readonly peakInFlight: number;
  /** How long the global concurrency limit was full. */
  readonly saturatedMs: number;
  /** Sum of every node's duration: the walk cannot beat work / concurrency. */
  readonly workMs: number;
  /** Event-loop utilisation over the run: near 1 means the main thread, not the drivers, is the bound. */
  readonly eventLoopUtilization: number;
  /** Event-loop delay over the run (how late timers fire): p50, p99, max. */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Time spent inside (synchronous, fsync'd) journal calls, and their number. */
  readonly journalMs: number;
  readonly journalCalls: number;
}

export interface BenchEngine {
  readonly analysis: Analysis;
  readonly graph: ResourceGraph;
  readonly order: readonly string[];
  readonly mem: MemoryDrivers;
  readonly stateDir: string;
  /** Mutating driver calls plus certificate-store saves so far. */
  mutations(): number;
  /** Driver calls of any kind so far. */
  driverCalls(): number;
  /** One `sync all`; the events of the last run stay in `lastEvents`. */
  sync(settings: SyncSettings): Promise<SyncMeasurement>;
  readonly lastEvents: TimedEvent[];
  /** observeAll over every node alone, read-only, as execute() runs it (concurrency × 4 in flight). */
  observeRound(concurrency: number): Promise<{ ms: number; failed: number }>;
  /** observeAll + decideAll + buildPlan, timed step by step. */
  plan(concurrency: number): Promise<PlanMeasurement>;
  close(): void;
}

export interface PlanMeasurement {
  readonly observeMs: number;
  readonly decideMs: number;
  readonly buildMs: number;
  readonly totalMs: number;
  readonly summary: PlanSummary;
  readonly observeFailures: number;
}

export interface BenchEngineOptions {
  readonly latencyMs: number;
  /** Reuse an analysis of configDir. */
  readonly analysis?: Analysis;
  /** Default: a new temp dir, removed by close(). */
  readonly stateDir?: string;
  /** Load the world from this file (nothing is persisted back). */
  readonly worldPath?: string;
  /** false: run without a journal (diagnosis only; the CLI always journals a sync). Default true. */
  readonly journal?: boolean;
}

export async function openBenchEngine(configDir: string, opts: BenchEngineOptions): Promise<BenchEngine> {
  const analysis = opts.analysis ?? (await analyse(configDir));
  const { graph, inventory } = analysis;
  if (!graph || !inventory || analysis.diagnostics.errorCount) {
    const first = analysis.diagnostics.items.find((d) => d.severity === 'error');
    throw new Error(`${configDir}: the configuration is invalid${first ? `: ${first.message}` : ''}`);
  }
  const ownsState = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'phoenix-bench-engine-'));
  mkdirSync(stateDir, { recursive: true });
  // In memory only (no statePath): nothing is written back, not even when loaded from worldPath.
  const mem = createMemoryDrivers({ latencyMs: opts.latencyMs, inventory });
  if (opts.worldPath) mem.world.state = MemoryWorld.open(opts.worldPath).state;
  let certSaves = 0;
  const store = new FileCertificateStore(join(stateDir, 'certs'));
  const certs: CertificateStore = {
    load: (name) => store.load(name),
    save: (name, cert) => {
      certSaves++;
      return store.save(name, cert);
    },
  };
  const journalTime = { ms: 0, calls: 0 };
  const journal =
    opts.journal === false
      ? undefined
      : timedJournal(Journal.open(join(stateDir, 'journal.sqlite')), journalTime);
  const order = executionOrder(graph);
  const lastEvents: TimedEvent[] = [];
  let sink: (e: EngineEvent) => void = () => {};
  const drivers = tracedDrivers(mem.drivers, (e) => sink(e));
  const readDrivers = readOnlyDrivers(drivers);
  const readCerts = readOnly(certs, CERT_STORE_MUTATIONS, 'certs');
  const contexts = (pendingHandlers: ReadonlyMap<string, string>) => {
    const base = {
      inventory,
      graph,
      signal: new AbortController().signal,
      waiting: () => {},
      pendingHandlers,
    };
    return {
      ctx: { ...base, drivers, certs } satisfies Context,
      readCtx: { ...base, drivers: readDrivers, certs: readCerts } satisfies Context,
    };
  };
  const mutations = () =>
    mem.hypervisor.mutations + mem.containers.mutations + mem.issuer.mutations + certSaves;
  const driverCalls = () =>
    [mem.hypervisor.calls, mem.containers.calls, mem.issuer.calls].reduce(
      (n, calls) => n + [...calls.values()].reduce((a, b) => a + b, 0),
      0,
    );

  return {
    analysis,
    graph,
    order,
    mem,
    stateDir,
    lastEvents,
    mutations,
    driverCalls,
    async sync(settings) {
      journal?.reconcileCrashed();
      const { ctx, readCtx } = contexts(journal?.pendingHandlers() ?? new Map());
      const runId =
        journal?.startRun({
          command: 'sync',
          args: ['all'],
          configDir,
          pid: process.pid,
          dryRun: false,
          startedAt: new Date().toISOString(),
        }) ?? 'no-journal';
      lastEvents.length = 0;
      const m0 = mutations();
      const c0 = driverCalls();
      const j0 = { ...journalTime };
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      sink = (e) => lastEvents.push({ t: performance.now(), e });
      const result = await execute(
        graph,
        order,
        { ctx, readCtx, journal, runId, emit: sink },
        {
          command: 'sync',
          concurrency: settings.concurrency,
          perNodeLimit: settings.perNodeLimit,
          retry: { attempts: 3, baseDelayMs: 250 },
          interrupt: new AbortController().signal,
        },
      );
      const t1 = performance.now();
      const elu = performance.eventLoopUtilization(elu0).utilization;
      delay.disable();
      sink = () => {};
      journal?.endRun(runId, {
        outcome: result.outcome,
        counts: result.counts,
        durationMs: Math.round(t1 - t0),
      });
      const apply = lastEvents.find((x) => x.e.type === 'phase' && x.e.phase === 'apply');
      const observeMs = (apply?.t ?? t1) - t0;
      const durations = nodeDurations(events());
      const cp = criticalPath(order, (id) => graph.nodes.get(id)?.requires ?? [], durations);
      const wallMs = t1 - t0;
      const flight = inFlight(lastEvents, settings.concurrency);
      return {
        ...settings,
        outcome: result.outcome,
        counts: result.counts,
        wallMs,
        observeMs,
        applyMs: t1 - (apply?.t ?? t1),
        criticalPathMs: cp.ms,
        criticalPathNodes: cp.path.length,
        criticalPathKinds: collapseKinds(cp.path.map((id) => graph.nodes.get(id)!.kind)),
        ratio: wallMs / (observeMs + cp.ms),
        mutations: mutations() - m0,
        driverCalls: driverCalls() - c0,
        peakInFlight: flight.peak,
        saturatedMs: flight.saturatedMs,
        workMs: [...durations.values()].reduce((a, b) => a + b, 0),
        eventLoopUtilization: elu,
        eventLoopDelayMs: {
          p50: delay.percentile(50) / 1e6,
          p99: delay.percentile(99) / 1e6,
          max: delay.max / 1e6,
        },
        journalMs: journalTime.ms - j0.ms,
        journalCalls: journalTime.calls - j0.calls,
      };
    },
    async observeRound(concurrency) {
      const { readCtx } = contexts(journal?.pendingHandlers() ?? new Map());
      const t0 = performance.now();
      const observed = await observeAll(readCtx, order, concurrency * 4);
      const ms = performance.now() - t0;
      return { ms, failed: [...observed.values()].filter((o) => !o.ok).length };
    },
    async plan(concurrency) {
      const { readCtx } = contexts(journal?.pendingHandlers() ?? new Map());
      const t0 = performance.now();
      const observed = await observeAll(readCtx, order, concurrency * 4);
      const t1 = performance.now();
      const decisions = decideAll(graph, order, observed);
      const t2 = performance.now();
      const plan = buildPlan(graph, order, order, observed, decisions, { configDir, configDigest: 'bench' });
      const t3 = performance.now();
      return {
        observeMs: t1 - t0,
        decideMs: t2 - t1,
        buildMs: t3 - t2,
        totalMs: t3 - t0,
        summary: summarize(plan),
        observeFailures: [...observed.values()].filter((o) => !o.ok).length,
      };
    },
    close() {
      journal?.close();
      if (ownsState) rmSync(stateDir, { recursive: true, force: true });
    },
  };

  function events(): EngineEvent[] {
    return lastEvents.map((x) => x.e);
  }
}

/** Accounts the wall time spent inside each journal call (all synchronous SQLite writes with fsync). */
function timedJournal(journal: Journal, acc: { ms: number; calls: number }): Journal {
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
          acc.calls++;
        }
      };
    },
  });
}

function collapseKinds(kinds: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < kinds.length;) {
    let j = i;
    while (j < kinds.length && kinds[j] === kinds[i]) j++;
    out.push(j - i > 1 ? `${kinds[i]}×${j - i}` : kinds[i]!);
    i = j;
  }
  return out.join(' → ');
}

// ---------------------------------------------------------------------------------------------------------
// The benchmark

interface Options {
  guests: number;
  certificates: number;
  stacks: number;
  latencyMs: number;
  /** Full sync + no-op syncs, each from a fresh empty world, at these concurrency / per-node limits. */
  settings: SyncSettings[];
  noopRuns: number;
  planGuests: number;
  skipPlan: boolean;
  journal: boolean;
  seed: number;
  keep: boolean;
}

interface Goal {
  name: string;
  target: string;
  actual: string;
  ok: boolean;
}

/** What engine-measure.js prints (one JSON line). */
export interface ChildMeasurement {
  readonly mode: 'plan' | 'sync';
  readonly analyseMs: number;
  readonly rssAfterAnalyseMb: number;
  readonly maxRssMb: number;
  readonly resources: number;
  readonly plan?: PlanMeasurement;
  readonly sync?: SyncMeasurement;
  readonly mutations: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    guests: 200,
    certificates: 200,
    stacks: 50,
    latencyMs: 50,
    settings: DEFAULT_SETTINGS,
    noopRuns: 3,
    planGuests: 5000,
    skipPlan: false,
    journal: true,
    seed: 1,
    keep: false,
  };
  forEachFlag(argv, fail, ({ name: flag, arg, value, int }) => {
    switch (flag) {
      case '--guests':
        opts.guests = int(8);
        break;
      case '--certificates':
        opts.certificates = int(0);
        break;
      case '--stacks':
        opts.stacks = int(0);
        break;
      case '--latency':
        opts.latencyMs = int(0);
        break;
      case '--settings':
        opts.settings = value()
          .split(',')
          .filter(Boolean)
          .map((pair) => {
            const [c, p] = pair.split('/').map(Number);
            if (!Number.isInteger(c) || !Number.isInteger(p) || c! < 1 || p! < 1)
              fail(`--settings: "${pair}" is not CONCURRENCY/PER-NODE-LIMIT`);
            return { concurrency: c!, perNodeLimit: p! };
          });
        break;
      case '--noop-runs':
        opts.noopRuns = int(1);
        break;
      case '--plan-guests':
        opts.planGuests = int(8);
        break;
      case '--skip-plan':
        opts.skipPlan = true;
        break;
      case '--no-journal':
        opts.journal = false;
        break;
      case '--seed':
        opts.seed = int(1);
        break;
      case '--keep':
        opts.keep = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(
          'usage: node dist/bench/engine.js [--guests 200] [--certificates 200] [--stacks 50] [--latency 50]\n' +
            '         [--settings 1024/1024,64/64,16/4] [--noop-runs 3] [--plan-guests 5000]\n' +
            '         [--skip-plan] [--no-journal] [--seed 1] [--keep]\n',
        );
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${arg}`);
    }
  });
  return opts;
}

function fail(message: string): never {
  process.stderr.write(`bench engine: ${message}\n`);
  process.exit(2);
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const f0 = (n: number) => n.toFixed(0);
const f2 = (n: number) => n.toFixed(2);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const tempDirs = new Set<string>();
function tempDir(prefix: string, keep: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keep) tempDirs.add(dir);
  return dir;
}
function cleanup(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

interface Scenario {
  readonly label: string;
  readonly full: SyncMeasurement;
  readonly noop: SyncMeasurement[];
  readonly observeRounds: number[];
  readonly noopWallMs: number;
  readonly observeRoundMs: number;
  readonly noopRatio: number;
  readonly noopMutations: number;
  readonly worldAfterFull: { guests: number; operations: number };
  /** Node durations of the full sync (left out of the JSON). */
  readonly fullDurations: ReadonlyMap<string, number>;
}

/** A fresh empty world: full sync, then no-op syncs alternating with bare observation rounds. */
async function scenario(
  label: string,
  configDir: string,
  analysis: Analysis,
  settings: SyncSettings,
  opts: Options,
): Promise<Scenario> {
  const engine = await openBenchEngine(configDir, {
    latencyMs: opts.latencyMs,
    analysis,
    stateDir: tempDir('phoenix-bench-engine-', opts.keep),
    journal: opts.journal,
  });
  try {
    log(
      `  ${label}: full sync (concurrency ${settings.concurrency}, per-node limit ${settings.perNodeLimit}) …`,
    );
    const full = await engine.sync(settings);
    log(
      `    ${f0(full.wallMs)} ms, ${full.counts.ok} changed, ${full.counts.failed} failed, ${full.counts.skipped} skipped`,
    );
    if (full.outcome !== 'ok') {
      const failed = engine.lastEvents.find((x) => x.e.type === 'node-end' && x.e.outcome === 'failed');
      log(`    full sync ${full.outcome}: ${failed ? JSON.stringify(failed.e) : ''}`);
    }
    const fullEvents = engine.lastEvents.map((x) => x.e);
    const worldAfterFull = {
      guests: Object.keys(engine.mem.world.state.guests).length,
      operations: engine.mem.world.operations,
    };
    const noop: SyncMeasurement[] = [];
    const observeRounds: number[] = [];
    for (let i = 0; i < opts.noopRuns; i++) {
      noop.push(await engine.sync(settings));
      observeRounds.push((await engine.observeRound(settings.concurrency)).ms);
    }
    const noopWallMs = median(noop.map((n) => n.wallMs));
    const observeRoundMs = median(observeRounds);
    log(`    no-op sync ${f0(noopWallMs)} ms, observation round ${f0(observeRoundMs)} ms (medians)`);
    return {
      label,
      full,
      noop,
      observeRounds,
      noopWallMs,
      observeRoundMs,
      noopRatio: noopWallMs / observeRoundMs,
      noopMutations: noop.reduce((n, s) => n + s.mutations, 0),
      worldAfterFull,
      fullDurations: nodeDurations(fullEvents),
    };
  } finally {
    engine.close();
  }
}

function child(args: string[]): ChildMeasurement {
  const r = spawnSync(process.execPath, [MEASURE, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    throw new Error(
      `engine-measure.js ${args[0]} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildMeasurement;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join(
    '\n',
  );
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  log(
    `bench engine: ${opts.guests} guests, ${opts.certificates} certificates, ${opts.stacks} stacks at ${opts.latencyMs} ms per driver call; seed ${opts.seed}`,
  );

  // ---- 1. latency: full sync and no-op sync over the synthetic topology
  const configDir = tempDir('phoenix-bench-engine-config-', opts.keep);
  const generated = writeSyntheticConfig(configDir, {
    guests: opts.guests,
    certificates: opts.certificates,
    stacks: opts.stacks,
    seed: opts.seed,
  });
  const a0 = performance.now();
  const analysis = await analyse(configDir);
  const analyseMs = performance.now() - a0;
  if (!analysis.graph || !analysis.inventory || analysis.diagnostics.errorCount) {
    fail(`the synthetic config has ${analysis.diagnostics.errorCount} error(s)`);
  }
  const graph = analysis.graph;
  const order = executionOrder(graph);
  const requires = (id: string) => graph.nodes.get(id)?.requires ?? [];
  const topology = {
    generated,
    resources: graph.nodes.size,
    edges: [...graph.nodes.values()].reduce((n, x) => n + x.requires.length, 0),
    kinds: Object.fromEntries(
      [...graph.nodes.values()].reduce(
        (m, n) => m.set(n.kind, (m.get(n.kind) ?? 0) + 1),
        new Map<string, number>(),
      ),
    ),
    guestsWithDependencies: [...analysis.inventory.guests.values()].filter((g) => g.dependencies.length > 0)
      .length,
    longestGuestChain: longestGuestChain(analysis.inventory),
    longestResourceChain: longestChain(order, requires),
    analyseMs,
  };
  log(
    `  topology: ${topology.resources} resources, ${topology.edges} edges; ${topology.guestsWithDependencies} guests have dependencies; ` +
      `longest guest chain ${topology.longestGuestChain} guests, longest resource chain ${topology.longestResourceChain} nodes`,
  );

  const scenarios: Scenario[] = [];
  for (const settings of opts.settings) {
    scenarios.push(await scenario(settingsLabel(settings), configDir, analysis, settings, opts));
  }

  // ---- 2. plan time at zero latency, each figure from a fresh process
  let planResults:
    { guests: number; empty: ChildMeasurement; sync: ChildMeasurement; after: ChildMeasurement } | undefined;
  if (!opts.skipPlan) {
    const planDir = tempDir('phoenix-bench-engine-plan-', opts.keep);
    const planConfig = join(planDir, 'config');
    const g0 = performance.now();
    const planGenerated = writeSyntheticConfig(planConfig, {
      guests: opts.planGuests,
      certificates: opts.planGuests,
      stacks: Math.floor(opts.planGuests / 4),
      seed: opts.seed,
    });
    log(
      `  plan: ${planGenerated.guests} guests, ${planGenerated.certificates} certificates, ${planGenerated.stacks} stacks (generated in ${f0(performance.now() - g0)} ms)`,
    );
    const emptyState = join(planDir, 'empty-state');
    const syncedState = join(planDir, 'synced-state');
    const world = join(syncedState, 'world.json');
    const conc = String(CLI_DEFAULTS.concurrency);
    log('    plan from an empty world …');
    const empty = child(['plan', planConfig, emptyState, '--concurrency', conc]);
    log(`      ${f0(empty.plan!.totalMs)} ms, peak RSS ${f0(empty.maxRssMb)} MB`);
    // Only sets the world up for the second plan: wide and unjournalled, to keep the bench short.
    log('    full sync at zero latency (to plan against; 256/256, no journal) …');
    const sync = child([
      'sync',
      planConfig,
      syncedState,
      ...['--concurrency', '256', '--per-node-limit', '256', '--no-journal', '--save-world', world],
    ]);
    log(
      `      ${f0(sync.sync!.wallMs)} ms, ${sync.sync!.counts.ok} changed, ${sync.sync!.counts.failed} failed`,
    );
    log('    plan after the sync …');
    const after = child(['plan', planConfig, syncedState, '--concurrency', conc, '--world', world]);
    log(`      ${f0(after.plan!.totalMs)} ms, peak RSS ${f0(after.maxRssMb)} MB`);
    planResults = { guests: opts.planGuests, empty, sync, after };
  }

  // ---- report
  const goals: Goal[] = [];
  const rows: string[][] = [];
  for (const s of scenarios) {
    const f = s.full;
    rows.push([
      'full sync',
      s.label,
      f0(f.wallMs),
      f0(f.observeMs),
      `${f0(f.criticalPathMs)} (${f.criticalPathNodes} nodes)`,
      f2(f.ratio),
      String(f.peakInFlight),
      f0(f.saturatedMs),
      `${f.counts.ok}/${f.counts.unchanged}/${f.counts.failed}/${f.counts.skipped}`,
      String(f.driverCalls),
      String(f.mutations),
    ]);
    goals.push({
      name: `full sync at ${s.label}: wall / (observation round + critical path)`,
      target: `≤ ${GOALS.maxSyncRatio}`,
      actual: `${f2(f.ratio)} = ${f0(f.wallMs)} / (${f0(f.observeMs)} + ${f0(f.criticalPathMs)}) ms`,
      ok: f.outcome === 'ok' && f.ratio <= GOALS.maxSyncRatio,
    });
  }
  for (const s of scenarios) {
    const n = s.noop[s.noop.length >> 1]!;
    rows.push([
      'no-op sync',
      s.label,
      `${f0(s.noopWallMs)} (med of ${s.noop.length})`,
      f0(median(s.noop.map((x) => x.observeMs))),
      `(round alone: ${f0(s.observeRoundMs)})`,
      `${f2(s.noopRatio)}×`,
      String(n.peakInFlight),
      f0(n.saturatedMs),
      `${n.counts.ok}/${n.counts.unchanged}/${n.counts.failed}/${n.counts.skipped}`,
      String(n.driverCalls),
      String(s.noopMutations),
    ]);
    goals.push({
      name: `no-op sync at ${s.label}: wall / one observation round alone`,
      target: `≤ ${GOALS.maxNoopRatio}×`,
      actual: `${f2(s.noopRatio)}× = ${f0(s.noopWallMs)} / ${f0(s.observeRoundMs)} ms`,
      ok: s.noopRatio <= GOALS.maxNoopRatio,
    });
    goals.push({
      name: `no-op sync at ${s.label}: zero mutating calls, nothing changed`,
      target: '0 mutations, 0 changed',
      actual: `${s.noopMutations} mutations, ${s.noop.reduce((x, r) => x + r.counts.ok, 0)} changed over ${s.noop.length} runs`,
      ok: s.noopMutations === 0 && s.noop.every((r) => r.counts.ok === 0 && r.outcome === 'ok'),
    });
  }
  process.stdout.write(
    `\nengine at ${opts.latencyMs} ms per driver call: ${generated.guests} guests (${generated.lxcs} LXC, ${generated.vms} VM, ${generated.templates} templates), ` +
      `${generated.certificates} certificates, ${generated.stacks} stacks → ${topology.resources} resources, ${topology.edges} edges; ` +
      `longest guest dependency chain ${topology.longestGuestChain} guests, longest resource chain ${topology.longestResourceChain} nodes\n\n` +
      table(
        [
          'run',
          'conc/per-node',
          'wall ms',
          'observe ms',
          'critical path ms',
          'ratio',
          'peak in flight',
          'limit full ms',
          'ok/unch/fail/skip',
          'driver calls',
          'mutations',
        ],
        rows,
      ) +
      '\n',
  );
  for (const s of scenarios) {
    process.stdout.write(`critical path (${s.label}): ${s.full.criticalPathKinds}\n`);
  }
  // Node durations stretch when many nodes share the main thread and the crypto thread pool, and the critical
  // path stretches with them. The least contended full sync gives durations closer to the drivers' latency.
  const reference = [...scenarios].sort(
    (a, b) => a.full.eventLoopUtilization - b.full.eventLoopUtilization,
  )[0];
  const referenceCps = new Map(
    scenarios.map((s) => [
      s.label,
      reference ? criticalPath(order, requires, reference.fullDurations).ms : NaN,
    ]),
  );
  const referenceCp = (label: string) => referenceCps.get(label) ?? NaN;
  const diag = (label: string, s: Scenario, m: SyncMeasurement, full: boolean) => [
    label,
    s.label,
    full
      ? `${f2(m.wallMs / (m.observeMs + referenceCp(s.label)))} = ${f0(m.wallMs)} / (${f0(m.observeMs)} + ${f0(referenceCp(s.label))})`
      : '–',
    f0(m.driverCalls * opts.latencyMs),
    f0(m.workMs),
    f0(m.workMs / m.concurrency),
    f2(m.eventLoopUtilization),
    `${f0(m.eventLoopDelayMs.p50)} / ${f0(m.eventLoopDelayMs.p99)} / ${f0(m.eventLoopDelayMs.max)}`,
    `${f0(m.journalMs)} (${m.journalCalls})`,
  ];
  process.stdout.write(
    '\nwhere the time goes:\n\n' +
      table(
        [
          'run',
          'conc/per-node',
          `ratio at ${reference?.label ?? '–'} durations`,
          'driver calls × latency ms',
          'Σ node durations ms',
          'Σ durations / concurrency ms',
          'event-loop utilisation',
          'event-loop delay ms p50/p99/max',
          'in journal ms (calls)',
        ],
        scenarios.flatMap((s) => [
          diag('full sync', s, s.full, true),
          diag('no-op sync', s, s.noop[s.noop.length >> 1]!, false),
        ]),
      ) +
      '\n' +
      `(ratio at ${reference?.label ?? '–'} durations: wall / (observe + the critical path weighed with the node durations of ` +
      'the least contended full sync, event-loop utilisation lowest)\n' +
      (opts.journal ? '' : '(run with --no-journal: not what the CLI does)\n'),
  );

  if (planResults) {
    const { empty, after, sync } = planResults;
    const planRow = (label: string, m: ChildMeasurement) => [
      label,
      f0(m.plan!.observeMs),
      f0(m.plan!.decideMs),
      f0(m.plan!.buildMs),
      f0(m.plan!.totalMs),
      f0(m.analyseMs),
      f0(m.rssAfterAnalyseMb),
      f0(m.maxRssMb),
      summaryText(m.plan!.summary),
    ];
    process.stdout.write(
      `\nplan at zero latency, ${planResults.guests} guests (${empty.resources} resources), each in a fresh process:\n\n` +
        table(
          [
            'plan',
            'observe ms',
            'decide ms',
            'build ms',
            'plan total ms',
            'analyse ms',
            'RSS after analyse MB',
            'peak RSS MB',
            'actions',
          ],
          [planRow('from an empty world', empty), planRow('after a full sync', after)],
        ) +
        '\n' +
        `(full sync at zero latency, concurrency ${sync.sync!.concurrency}/${sync.sync!.perNodeLimit}: ${f0(sync.sync!.wallMs)} ms, ` +
        `observe ${f0(sync.sync!.observeMs)} ms, peak RSS ${f0(sync.maxRssMb)} MB, ${sync.sync!.counts.ok} changed, ${sync.sync!.counts.failed} failed)\n`,
    );
    goals.push({
      name: `plan ${planResults.guests} guests after a full sync: all unchanged, no mutation`,
      target: `${after.resources} unchanged, 0 mutations`,
      actual: `${summaryText(after.plan!.summary)}; ${after.mutations} mutations`,
      ok: after.plan!.summary.unchanged === after.resources && after.mutations === 0,
    });
  }

  process.stdout.write('\ngoals:\n');
  for (const g of goals)
    process.stdout.write(`  ${g.ok ? 'PASS' : 'FAIL'}  ${g.name}: ${g.actual} (goal ${g.target})\n`);

  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        options: opts,
        goals,
        topology,
        scenarios: scenarios.map(({ fullDurations: _, ...rest }) => ({
          ...rest,
          criticalPathAtReferenceDurationsMs: referenceCp(rest.label),
        })),
        plan: planResults ?? null,
      },
      null,
      2,
    ) + '\n',
  );
  process.stdout.write(`\nresults: ${RESULTS}\n`);
  // A missed goal is a finding; only a sync that did not converge makes the bench itself fail.
  return scenarios.every((s) => s.full.outcome === 'ok') ? 0 : 1;
}

function summaryText(s: PlanSummary): string {
  return Object.entries(s)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
  try {
    process.exitCode = await main();
  } finally {
    cleanup();
  }
}
