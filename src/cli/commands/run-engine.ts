import { LockError } from '../../engine/lock.js';
import { execute } from '../../engine/execute.js';
import { now, type EngineEvent } from '../../engine/events.js';
import { buildPlan, decideAll, observeAll, type Plan } from '../../engine/plan.js';
import { openSession, SessionError, type Session } from '../../engine/session.js';
import { VerbError } from '../../engine/verbs.js';
import { executionOrder, requiredClosure, subgraph } from '../../graph/order.js';
import type { ResourceGraph } from '../../graph/types.js';
import { configDigest } from '../../engine/digest.js';
import { formatDiagnostic } from '../diagnostics.js';
import { resolveSelection } from '../selection.js';
import { EXIT } from '../exit-codes.js';
import { chooseMode, createRenderer } from '../render/index.js';
import { styleFor } from '../style.js';
import type { EngineSettings } from './engine-options.js';
import { UsageError } from './engine-options.js';

/** Exit status of a run that was interrupted with Ctrl-C, as shells expect. */
export const EXIT_INTERRUPTED = 130;

/** Resolves `all`, resource ids, guests and `stack NAME to VMID` to the ids needed, in execution order. */
export function selectOrder(graph: ResourceGraph, selection: readonly string[]): string[] {
  if (selection.length === 0 || (selection.length === 1 && selection[0] === 'all'))
    return executionOrder(graph);
  const ids = resolveSelection(graph, selection);
  const unknown = ids.filter((id) => !graph.nodes.has(id));
  if (unknown.length) {
    throw new UsageError(
      `unknown resource id(s): ${unknown.join(', ')} (see \`phoenix graph --order\` for the ids of this configuration)`,
    );
  }
  return executionOrder(subgraph(graph, requiredClosure(graph, ids)));
}

export interface SessionRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly mutating: boolean;
  readonly forceRenew?: ReadonlySet<string>;
}

/** Opens a session, maps the ways that can fail to clear messages and exit codes, and always closes it. */
export async function withSession(
  settings: EngineSettings,
  req: SessionRequest,
  fn: (s: Session, emit: (e: EngineEvent) => void) => Promise<number>,
): Promise<number> {
  const renderer = createRenderer(chooseMode({ json: settings.json }, process.stdout), process.stdout, {
    verbose: settings.verbose,
  });
  let session: Session | undefined;
  try {
    session = await openSession({
      configDir: settings.configDir,
      stateDir: settings.stateDir,
      labDir: settings.labDir,
      driver: settings.driver,
      command: req.command,
      args: req.args,
      mutating: req.mutating,
      dryRun: settings.dryRun,
      emit: (e) => renderer.handle(e),
      memoryLatencyMs: settings.memoryLatencyMs,
      forceRenew: req.forceRenew,
    });
    return await fn(session, (e) => renderer.handle(e));
  } catch (e) {
    return reportFailure(e);
  } finally {
    session?.close();
    renderer.close();
  }
}

function reportFailure(e: unknown): number {
  const err = styleFor(process.stderr);
  if (e instanceof SessionError) {
    for (const d of e.analysis?.diagnostics.items ?? [])
      if (d.severity === 'error') process.stderr.write(formatDiagnostic(d, err) + '\n');
    process.stderr.write(`phoenix: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof LockError) {
    process.stderr.write(`phoenix: ${e.message}\n`);
    return EXIT.failed;
  }
  if (e instanceof UsageError || e instanceof VerbError) {
    process.stderr.write(`phoenix: ${e.message}\n`);
    return EXIT.invalid;
  }
  throw e;
}

/** Observes (read-only, in parallel) and decides: the plan, with nothing changed. */
export function makePlan(s: Session, order: readonly string[], settings: EngineSettings): Promise<Plan> {
  return planOn(s, s.graph, order, settings);
}

export async function planOn(
  s: Session,
  graph: ResourceGraph,
  order: readonly string[],
  settings: EngineSettings,
): Promise<Plan> {
  const readCtx = { ...s.readCtx, graph };
  const observed = await observeAll(readCtx, order, settings.concurrency * 4);
  const decisions = decideAll(graph, order, observed);
  return buildPlan(graph, order, order, observed, decisions, {
    configDir: settings.configDir,
    configDigest: configDigest(s.analysis),
  });
}

/**
 * Walks the plan with Ctrl-C handling: the first interrupt starts nothing new and lets running actions
 * finish; a second one cancels their waits.
 */
export function runWalk(
  s: Session,
  order: readonly string[],
  settings: EngineSettings,
  emit: (e: EngineEvent) => void,
  plan?: Plan,
): Promise<number> {
  return runWalkOn(s, s.graph, order, settings, emit, plan);
}

export async function runWalkOn(
  s: Session,
  graph: ResourceGraph,
  order: readonly string[],
  settings: EngineSettings,
  emit: (e: EngineEvent) => void,
  plan?: Plan,
): Promise<number> {
  const interrupt = new AbortController();
  const running = new Set<string>();
  const tracked = (e: EngineEvent) => {
    if (e.type === 'node-start') running.add(e.id);
    if (e.type === 'node-end') running.delete(e.id);
    emit(e);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) {
      s.cancel.abort(new Error(`cancelled by a second ${signal}`));
      return;
    }
    interrupt.abort();
    emit({ type: 'interrupt', signal, running: [...running], at: now() });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  emit({
    type: 'run-start',
    runId: s.runId,
    command: s.command,
    dryRun: settings.dryRun,
    total: order.length,
    at: now(),
  });
  try {
    const env = {
      ctx: { ...s.ctx, graph },
      readCtx: { ...s.readCtx, graph },
      journal: s.journal,
      runId: s.runId,
      emit: tracked,
    };
    const result = await execute(graph, order, env, {
      command: s.command,
      concurrency: settings.concurrency,
      perNodeLimit: settings.perNodeLimit,
      retry: { attempts: 3, baseDelayMs: 250 },
      interrupt: interrupt.signal,
      plan,
    });
    const durationMs = Date.now() - started;
    if (result.stale) {
      process.stderr.write(
        `phoenix apply: refusing to apply: what the plan observed has changed since it was made (${result.stale.length} resource(s): ${result.stale.slice(0, 10).join(', ')}${result.stale.length > 10 ? ', …' : ''}).\nMake a new plan with \`phoenix plan --out FILE\`.\n`,
      );
      s.close({ outcome: 'failed', counts: result.counts, durationMs });
      return EXIT.failed;
    }
    emit({
      type: 'run-end',
      runId: s.runId,
      outcome: result.outcome,
      counts: result.counts,
      durationMs,
      at: now(),
    });
    s.close({ outcome: result.outcome, counts: result.counts, durationMs });
    return result.outcome === 'ok'
      ? EXIT.ok
      : result.outcome === 'interrupted'
        ? EXIT_INTERRUPTED
        : EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
